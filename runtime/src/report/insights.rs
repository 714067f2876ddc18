//! Activity insights for people: the windows, anomalies and first uses as one self-contained
//! HTML page (inline CSS and SVG: no script, no request leaves the page, which its content
//! security policy also forbids), in English or Japanese. Every value from the logs is
//! escaped: principals, IPs and API names are written by whoever called AWS.

use std::collections::BTreeMap;
use std::fmt::Write;

use jiff::Timestamp;

use super::Language;
use crate::analysis::insights::anomaly::{Anomaly, Series};
use crate::analysis::insights::{dense, text, Activities, Counts, First, Window};

/// What the page shows.
pub struct Page<'a> {
    pub title: &'a str,
    pub from: Timestamp,
    pub to: Timestamp,
    pub width: i64,
    pub activities: &'a Activities,
    pub anomalies: &'a [Anomaly],
    pub calls: u64,
    pub repeated: u64,
}

struct Words {
    heading: &'static str,
    range: &'static str,
    window: &'static str,
    calls: &'static str,
    repeated: &'static str,
    total: &'static str,
    per_service: &'static str,
    per_api: &'static str,
    per_user: &'static str,
    all_errors: &'static str,
    errors_by_code: &'static str,
    ec2_errors: &'static str,
    signins: &'static str,
    success: &'static str,
    failure: &'static str,
    root: &'static str,
    denied: &'static str,
    anomalies: &'static str,
    none: &'static str,
    top_users: &'static str,
    top_ips: &'static str,
    top_apis: &'static str,
    denied_by: &'static str,
    firsts: &'static str,
    key: &'static str,
    count: &'static str,
    error_rate: &'static str,
    start: &'static str,
    series: &'static str,
    score: &'static str,
    value: &'static str,
    time: &'static str,
    account: &'static str,
    kind: &'static str,
    by: &'static str,
    marked: &'static str,
}

const EN: Words = Words {
    heading: "API activity",
    range: "Range (UTC)",
    window: "window",
    calls: "calls counted",
    repeated: "repeated events counted once",
    total: "Calls per window",
    per_service: "Calls per service (top 6)",
    per_api: "Calls per API (top 6)",
    per_user: "Calls per principal (top 6)",
    all_errors: "all errors",
    errors_by_code: "Errors per window: all, and the top 5 error codes",
    ec2_errors: "EC2 calls by error code",
    signins: "Console sign-ins",
    success: "sign-in succeeded",
    failure: "sign-in failed",
    root: "root's calls",
    denied: "Access denied per window",
    anomalies: "Anomalies (random cut forest, one per episode)",
    none: "none",
    top_users: "Principals with the most calls",
    top_ips: "Source IPs with the most calls",
    top_apis: "APIs with the most calls",
    denied_by: "Access denied, by principal",
    firsts: "First use of a region or service by an account",
    key: "key",
    count: "calls",
    error_rate: "error rate",
    start: "window start",
    series: "series",
    score: "score",
    value: "value",
    time: "time",
    account: "account",
    kind: "kind",
    by: "by",
    marked: "red dots: anomalies",
};

const JA: Words = Words {
    heading: "API アクティビティ",
    range: "期間 (UTC)",
    window: "ウィンドウ",
    calls: "件の呼び出しを集計",
    repeated: "件の重複イベントは 1 回として集計",
    total: "ウィンドウごとの呼び出し数",
    per_service: "サービスごとの呼び出し数 (上位 6)",
    per_api: "API ごとの呼び出し数 (上位 6)",
    per_user: "プリンシパルごとの呼び出し数 (上位 6)",
    all_errors: "全エラー",
    errors_by_code: "ウィンドウごとのエラー数 (全体と上位 5 エラーコード)",
    ec2_errors: "EC2 のエラーコード別呼び出し数",
    signins: "コンソールサインイン",
    success: "サインイン成功",
    failure: "サインイン失敗",
    root: "root の呼び出し",
    denied: "ウィンドウごとのアクセス拒否",
    anomalies: "異常 (ランダムカットフォレスト、1 エピソード 1 件)",
    none: "なし",
    top_users: "呼び出しの多いプリンシパル",
    top_ips: "呼び出しの多い送信元 IP",
    top_apis: "呼び出しの多い API",
    denied_by: "プリンシパル別のアクセス拒否",
    firsts: "アカウントによるリージョン・サービスの初回利用",
    key: "キー",
    count: "呼び出し数",
    error_rate: "エラー率",
    start: "ウィンドウ開始",
    series: "系列",
    score: "スコア",
    value: "値",
    time: "時刻",
    account: "アカウント",
    kind: "種類",
    by: "主体",
    marked: "赤い点: 異常",
};

fn words(lang: Language) -> &'static Words {
    match lang {
        Language::En => &EN,
        Language::Ja => &JA,
    }
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const COLORS: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const MARK: &str = "#e00000";

/// One line of a chart.
struct Line {
    name: String,
    values: Vec<u64>,
}

/// An SVG line chart of `lines` over the windows `starts`, with `marks` (window index,
/// label) drawn as red dots on the first line.
fn chart(title: &str, starts: &[String], lines: &[Line], marks: &[(usize, String)]) -> String {
    const W: f64 = 1100.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 56.0;
    const BOTTOM: f64 = 24.0;
    let n = starts.len().max(1);
    let max = lines.iter().flat_map(|l| l.values.iter()).copied().max().unwrap_or(0).max(1) as f64;
    let x = |i: usize| LEFT + (W - LEFT - 10.0) * if n > 1 { i as f64 / (n - 1) as f64 } else { 0.5 };
    let y = |v: u64| 10.0 + (H - BOTTOM - 10.0) * (1.0 - v as f64 / max);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}">"#,
        esc(title),
        esc(title)
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{b}" x2="{W}" y2="{b}" stroke="#999"/><line x1="{LEFT}" y1="10" x2="{LEFT}" y2="{b}" stroke="#999"/><text x="{t}" y="16" class="axis" text-anchor="end">{m}</text><text x="{t}" y="{b}" class="axis" text-anchor="end">0</text>"##,
        b = H - BOTTOM,
        t = LEFT - 4.0,
        m = max as u64
    );
    if let (Some(first), Some(last)) = (starts.first(), starts.last()) {
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="{H}" class="axis">{}</text><text x="{W}" y="{H}" class="axis" text-anchor="end">{}</text>"#,
            esc(first),
            esc(last)
        );
    }
    for (i, line) in lines.iter().enumerate() {
        let points: Vec<String> =
            line.values.iter().enumerate().map(|(j, &v)| format!("{:.1},{:.1}", x(j), y(v))).collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            COLORS[i % COLORS.len()],
            points.join(" "),
            esc(&line.name)
        );
    }
    if let Some(first) = lines.first() {
        for (j, label) in marks {
            let v = first.values.get(*j).copied().unwrap_or(0);
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="6" fill="{MARK}" class="anomaly"><title>{}</title></circle>"#,
                x(*j),
                y(v),
                esc(label)
            );
        }
    }
    svg.push_str("</svg><p class=\"legend\">");
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(svg, r#"<span style="color:{}">■</span> {} "#, COLORS[i % COLORS.len()], esc(&line.name));
    }
    svg.push_str("</p></figure>\n");
    svg
}

fn table(head: &[&str], rows: &[Vec<String>], none: &str) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(out, r#"<tr><td colspan="{}">{}</td></tr>"#, head.len(), esc(none));
    }
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
    out
}

/// The keys of `pick(window)` summed over every window, the `n` largest.
fn totals(windows: &[Window], n: usize, pick: impl Fn(&Window) -> &Counts) -> Vec<(String, u64)> {
    let mut sum: BTreeMap<&str, u64> = BTreeMap::new();
    for w in windows {
        for (k, v) in pick(w) {
            *sum.entry(&**k).or_default() += v;
        }
    }
    let mut v: Vec<(String, u64)> = sum.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// One line per key of `pick`: the `n` keys with the most in all, their value per window.
fn keyed_lines(
    windows: &[Window],
    dense: &[std::borrow::Cow<'_, Window>],
    n: usize,
    pick: impl Fn(&Window) -> &Counts + Copy,
) -> Vec<Line> {
    totals(windows, n, pick)
        .into_iter()
        .map(|(k, _)| Line {
            values: dense.iter().map(|w| pick(w).get(k.as_str()).copied().unwrap_or(0)).collect(),
            name: k,
        })
        .collect()
}

/// An anomaly as a table row: window, series, key, value, score.
pub fn anomaly_row(a: &Anomaly) -> Vec<String> {
    vec![
        a.start.clone(),
        a.series.name().to_string(),
        a.key.clone().unwrap_or_default(),
        a.value.to_string(),
        format!("{:.2}", a.score),
    ]
}

/// A first use as a table row: time, account, kind, key, by whom.
pub fn first_row(f: &First) -> Vec<String> {
    vec![f.time.clone(), f.account.clone(), f.kind.clone(), f.key.clone(), f.principal.clone()]
}

/// The page, in `lang`.
pub fn html(p: &Page<'_>, lang: Language) -> String {
    let w = words(lang);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>{} — {}</h1><p>{}: {} — {} ({} {} s) · {} {} · {} {}</p><p class=\"legend\"><span style=\"color:{MARK}\">●</span> {}</p>",
        esc(w.heading),
        esc(p.title),
        esc(w.range),
        esc(&text(p.from)),
        esc(&text(p.to)),
        esc(w.window),
        p.width,
        p.calls,
        esc(w.calls),
        p.repeated,
        esc(w.repeated),
        esc(w.marked),
    );
    body.push_str(&charts(p, w));
    body.push_str(&tables(p, w));
    format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK JP", "Hiragino Sans", sans-serif; margin: 24px; color: #222; }}
figure {{ margin: 16px 0; }} figcaption, h2 {{ font-weight: 600; margin: 8px 0; }} h2 {{ font-size: 1.1em; }}
.axis {{ font-size: 11px; fill: #555; }} .legend {{ font-size: 12px; color: #444; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
</style></head><body>
{body}</body></html>
"#,
        lang = lang.as_str(),
        title = esc(&format!("{} — {}", w.heading, p.title)),
    )
}

/// The panels: every window of the range, anomalies marked on their series.
fn charts(p: &Page<'_>, w: &Words) -> String {
    let windows = &p.activities.windows;
    let dense = dense(windows, p.from, p.to, p.width);
    let starts: Vec<String> = dense.iter().map(|d| d.start.clone()).collect();
    let index: BTreeMap<&str, usize> = starts.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    let marks = |series: Series| -> Vec<(usize, String)> {
        p.anomalies
            .iter()
            .filter(|a| a.series == series)
            .filter_map(|a| {
                let label =
                    format!("{} {} {:.2} {}", a.start, a.series.name(), a.score, a.key.as_deref().unwrap_or(""));
                Some((*index.get(a.start.as_str())?, label))
            })
            .collect()
    };
    let series = |s: Series| dense.iter().map(|d| s.value(d)).collect::<Vec<u64>>();
    let mut body = String::new();
    body.push_str(&chart(
        w.total,
        &starts,
        &[Line { name: w.total.into(), values: series(Series::Total) }],
        &marks(Series::Total),
    ));
    body.push_str(&chart(w.per_service, &starts, &keyed_lines(windows, &dense, 6, |d| &d.by_service), &[]));
    body.push_str(&chart(w.per_api, &starts, &keyed_lines(windows, &dense, 6, |d| &d.by_api), &[]));
    body.push_str(&chart(w.per_user, &starts, &keyed_lines(windows, &dense, 6, |d| &d.by_user), &[]));
    let mut errors = vec![Line { name: w.all_errors.into(), values: series(Series::Errors) }];
    errors.extend(keyed_lines(windows, &dense, 5, |d| &d.errors));
    body.push_str(&chart(w.errors_by_code, &starts, &errors, &marks(Series::Errors)));
    body.push_str(&chart(
        w.denied,
        &starts,
        &[Line { name: w.denied.into(), values: series(Series::AccessDenied) }],
        &marks(Series::AccessDenied),
    ));
    body.push_str(&chart(
        w.signins,
        &starts,
        &[
            Line { name: w.failure.into(), values: series(Series::SignInFailures) },
            Line { name: w.success.into(), values: dense.iter().map(|d| d.signins.success).collect() },
        ],
        &marks(Series::SignInFailures),
    ));
    body.push_str(&chart(
        w.root,
        &starts,
        &[Line { name: w.root.into(), values: series(Series::Root) }],
        &marks(Series::Root),
    ));
    body
}

/// The tables: anomalies, first uses, and the rankings over the whole range.
fn tables(p: &Page<'_>, w: &Words) -> String {
    let windows = &p.activities.windows;
    let mut body = String::new();
    let _ = write!(body, "<h2>{}</h2>", esc(w.anomalies));
    let rows: Vec<Vec<String>> = p.anomalies.iter().map(anomaly_row).collect();
    body.push_str(&table(&[w.start, w.series, w.key, w.value, w.score], &rows, w.none));
    let _ = write!(body, "<h2>{}</h2>", esc(w.firsts));
    let rows: Vec<Vec<String>> = p.activities.firsts.iter().map(first_row).collect();
    body.push_str(&table(&[w.time, w.account, w.kind, w.key, w.by], &rows, w.none));
    let count_rows = |v: Vec<(String, u64)>| v.into_iter().map(|(k, n)| vec![k, n.to_string()]).collect::<Vec<_>>();
    for (title, pick) in [
        (w.top_users, (|d: &Window| &d.by_user) as fn(&Window) -> &Counts),
        (w.top_ips, |d: &Window| &d.by_ip),
        (w.denied_by, |d: &Window| &d.access_denied),
    ] {
        let _ = write!(body, "<h2>{}</h2>", esc(title));
        body.push_str(&table(&[w.key, w.count], &count_rows(totals(windows, 20, pick)), w.none));
    }
    let _ = write!(body, "<h2>{}</h2>", esc(w.top_apis));
    let errors: BTreeMap<String, u64> = totals(windows, usize::MAX, |d| &d.api_errors).into_iter().collect();
    let rows: Vec<Vec<String>> = totals(windows, 20, |d| &d.by_api)
        .into_iter()
        .map(|(k, n)| {
            let e = errors.get(&k).copied().unwrap_or(0);
            vec![k, n.to_string(), format!("{:.1} %", 100.0 * e as f64 / n.max(1) as f64)]
        })
        .collect();
    body.push_str(&table(&[w.key, w.count, w.error_rate], &rows, w.none));
    let _ = write!(body, "<h2>{}</h2>", esc(w.ec2_errors));
    let ec2: Vec<(String, u64)> = totals(windows, usize::MAX, |d| &d.api_errors)
        .into_iter()
        .filter(|(k, _)| k.starts_with("ec2:"))
        .take(20)
        .collect();
    body.push_str(&table(&[w.key, w.count], &count_rows(ec2), w.none));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::insights::{Known, SignIns};

    #[test]
    fn values_from_the_logs_are_escaped() {
        assert_eq!(esc(r#"<script>"a"&'b'</script>"#), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;");
        let evil = "arn:aws:iam::1:user/<img src=x onerror=alert(1)>";
        let from: Timestamp = "2025-06-12T09:00:00Z".parse().unwrap();
        let win = Window {
            start: "2025-06-12T09:00:00Z".into(),
            end: "2025-06-12T09:01:00Z".into(),
            total: 1,
            by_user: Counts::from([(evil.into(), 1)]),
            signins: SignIns::default(),
            ..Window::default()
        };
        let a = Activities { windows: vec![win], firsts: Vec::new(), known: Known::default() };
        let page = Page {
            title: "t",
            from,
            to: from + jiff::SignedDuration::from_secs(120),
            width: 60,
            activities: &a,
            anomalies: &[],
            calls: 1,
            repeated: 0,
        };
        for lang in Language::ALL {
            let html = html(&page, lang);
            assert!(!html.contains("<img"), "{html}");
            assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
            assert!(html.contains(&format!(r#"<html lang="{lang}">"#)));
        }
    }
}
