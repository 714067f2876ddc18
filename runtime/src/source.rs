//! Where a named query is answered: a local mirror of the log buckets, Athena, or CloudTrail
//! event history (for `created-deleted`, the last 90 days). Every command and every function
//! asks through [`Source`], so parameters are validated, SQL rendered, rows finished and columns
//! named the same way whichever engine reads the lake.

use jiff::civil::Date;

#[cfg(feature = "athena")]
use crate::engine::athena::{AthenaEngine, AthenaError};
use crate::engine::local::{EngineError, Mirror};
use crate::lake::LakeLayout;
use crate::query::{self, Answer, ParamError, Params, QueryDef, QueryError};

/// What reads the lake.
// One per command or function, made once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// A mirror of the log buckets on disk; `today` resolves the projection's `NOW`.
    Mirror { mirror: Mirror, today: Date },
    /// The spec's Athena workgroup and database.
    #[cfg(feature = "athena")]
    Athena(AthenaEngine),
    /// CloudTrail event history of the credentials' account: management events of the last
    /// 90 days, no trail needed. `regions` (else the layout's) are read in parallel, each at
    /// most one call per `pace`.
    #[cfg(feature = "event-history")]
    EventHistory { aws: crate::aws::Aws, regions: Option<Vec<String>>, today: Date, pace: std::time::Duration },
}

/// Why a query has no answer. [`SourceError::is_bad_input`] tells the caller's mistakes (a
/// parameter, a query the source cannot answer) from failures while reading.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Param(#[from] ParamError),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Mirror(#[from] EngineError),
    #[cfg(feature = "athena")]
    #[error("{0}")]
    Athena(#[from] AthenaError),
    #[error("{0}")]
    EventHistory(String),
}

impl SourceError {
    pub fn is_bad_input(&self) -> bool {
        matches!(self, SourceError::Param(_) | SourceError::Unsupported(_))
    }
}

impl From<QueryError> for SourceError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Param(p) => SourceError::Param(p),
            QueryError::Engine(e) => SourceError::Mirror(e),
        }
    }
}

impl Source {
    /// A short name for messages: `mirror`, `athena`, `event history`.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Mirror { .. } => "mirror",
            #[cfg(feature = "athena")]
            Source::Athena(_) => "athena",
            #[cfg(feature = "event-history")]
            Source::EventHistory { .. } => "event history",
        }
    }

    /// Validates `pairs` (`key=value` as given) against the query `name`, then answers it.
    pub async fn ask(
        &self,
        name: &str,
        pairs: &[(String, String)],
        layout: &LakeLayout,
    ) -> Result<Answer, SourceError> {
        let q = query::find_or_explain(name)?;
        let params = query::validate(q, pairs, layout)?;
        self.answer(q, &params, layout).await
    }

    /// Answers a query whose parameters were validated.
    pub async fn answer(&self, q: &QueryDef, params: &Params, layout: &LakeLayout) -> Result<Answer, SourceError> {
        match self {
            Source::Mirror { mirror, today } => Ok(query::run_local(q, params, layout, mirror, *today)?),
            #[cfg(feature = "athena")]
            Source::Athena(engine) => {
                let sql = query::render_sql(q, params, layout)?;
                let run = Box::pin(engine.run(&sql)).await?;
                Ok(Answer::from_athena(q, run))
            }
            #[cfg(feature = "event-history")]
            Source::EventHistory { aws, regions, today, pace } => {
                let regions = match (params.str("region"), regions) {
                    (Some(r), _) => vec![r.to_string()],
                    (None, Some(list)) => list.clone(),
                    (None, None) => layout.regions.clone(),
                };
                // Boxed: the lookup's futures are deep, and every caller's future would carry them.
                Box::pin(event_history(q, params, aws, &regions, *today, *pace)).await
            }
        }
    }
}

/// Why a streamed answer stopped: the source failed, or the sink refused a row.
#[derive(Debug)]
pub enum StreamFailure<E> {
    Source(SourceError),
    Sink(E),
}

impl Source {
    /// Answers a query whose parameters were validated, handing `sink` its rows in order, one
    /// at a time; the answer's columns, statistics and engine (its rows left empty). A mirror
    /// streams in flat memory however many rows match; Athena and event history answer first,
    /// then hand the rows over.
    pub async fn stream<E>(
        &self,
        q: &QueryDef,
        params: &Params,
        layout: &LakeLayout,
        mut sink: impl FnMut(query::RowRef<'_>) -> Result<(), E>,
    ) -> Result<Answer, StreamFailure<E>> {
        // (A build with no cloud source — the `slack` function's — has only the mirror.)
        #[allow(irrefutable_let_patterns)]
        if let Source::Mirror { mirror, today } = self {
            let stats = query::stream_local(q, params, layout, mirror, *today, sink).map_err(|e| match e {
                query::StreamError::Query(e) => StreamFailure::Source(e.into()),
                query::StreamError::Sink(e) => StreamFailure::Sink(e),
            })?;
            return Ok(Answer { stats, ..Answer::of(q, Vec::new()) });
        }
        let mut answer = self.answer(q, params, layout).await.map_err(StreamFailure::Source)?;
        for r in std::mem::take(&mut answer.rows) {
            sink(query::RowRef::Values(&r)).map_err(StreamFailure::Sink)?;
        }
        Ok(answer)
    }
}

/// Event history answers `created-deleted` only, within its 90 days.
#[cfg(feature = "event-history")]
async fn event_history(
    q: &QueryDef,
    params: &Params,
    aws: &crate::aws::Aws,
    regions: &[String],
    today: Date,
    pace: std::time::Duration,
) -> Result<Answer, SourceError> {
    use crate::engine::{lookup, ScanStats};
    use crate::query::Via;
    use jiff::ToSpan;

    if q.name != "created-deleted" {
        return Err(SourceError::Unsupported(format!(
            "{}: CloudTrail event history answers created-deleted only; read the lake (--local or --athena)",
            q.name
        )));
    }
    let (from, to) = (params.date("from").unwrap_or(today), params.date("to").unwrap_or(today));
    let oldest = today.checked_sub(lookup::MAX_DAYS.days()).unwrap_or(today);
    if from < oldest {
        return Err(SourceError::Unsupported(format!(
            "event history (LookupEvents) covers the last {} days (from {oldest}); use --local or --athena for older events",
            lookup::MAX_DAYS
        )));
    }
    let names = crate::catalogue::event_names();
    let (mut rows, read) =
        lookup::created_deleted(aws, regions, &names, from, to, pace).await.map_err(SourceError::EventHistory)?;
    if let Some(account) = params.str("account") {
        let at = q.columns.iter().position(|c| *c == "account").unwrap_or(usize::MAX);
        rows.retain(|r| r.get(at).and_then(|v| v.as_str()) == Some(account));
    }
    Ok(Answer {
        columns: q.columns.iter().map(|c| c.to_string()).collect(),
        rows,
        stats: ScanStats { records: read.events, ..ScanStats::default() },
        via: Via::EventHistory { calls: read.calls, regions: regions.len() },
    })
}
