import Foundation
import RecKit

/// A self-contained HTML report (inline CSS and SVG, no network) of an offline A/B test: per
/// policy an interval chart of every estimate against the logged mean, the estimates table and the
/// diagnostics.
enum ReportHTML {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func render(_ report: OfflineABReport) -> String {
        let logged = report.loggedMean
        var h = """
            <!doctype html><html><head><meta charset="utf-8"><title>RecKit offline A/B report</title>
            <style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
            td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
            .warn{color:#a40}</style></head><body>
            <h1>Offline A/B report</h1>
            <p>Logs: <code>\(escape(report.logs))</code>, \(report.rows) rows, logged mean reward \(String(format: "%.6f", logged)); \(report.passes) passes over the data.</p>
            """
        for w in report.warnings { h += "<p class=\"warn\">\(escape(w))</p>" }
        for e in report.evaluations {
            h += "<h2>\(escape(e.policy))</h2>"
            for w in e.warnings { h += "<p class=\"warn\">\(escape(w))</p>" }
            h += chart(e.estimates, logged: logged)
            h +=
                "<table><tr><th>estimator</th><th>cap</th><th>value</th><th>interval</th><th>method</th><th>uplift</th></tr>"
            for s in e.estimates {
                let cap = s.cap.map { $0.isInfinite ? "∞" : String(format: "%g", $0) } ?? "–"
                h +=
                    "<tr><td>\(escape(s.label))</td><td>\(cap)</td>"
                    + String(format: "<td>%.6f</td><td>[%.6f, %.6f]</td>", s.value, s.interval.low, s.interval.high)
                    + "<td>\(s.method.rawValue)</td><td>\(uplift(s.value, logged))</td></tr>"
            }
            h += "</table>"
            let d = e.diagnostics
            h +=
                String(
                    format: "<p>Effective sample size %.0f of %ld; max weight %.3g; mean weight %.3f; ",
                    d.effectiveSampleSize, report.rows, d.maxWeight, d.meanWeight)
                + (d.unsupportedMass.map { String(format: "target mass on unlogged pairs %.3g.</p>", $0) }
                    ?? "unsupported mass not computed (one pass).</p>")
            h +=
                "<table><tr><th>cap</th>"
                + d.capTable.map { "<th>\($0.cap.isInfinite ? "∞" : String(format: "%g", $0.cap))</th>" }.joined()
                + "</tr>"
            h += "<tr><td>CIS</td>" + d.capTable.map { String(format: "<td>%.6f</td>", $0.cis) }.joined() + "</tr>"
            h +=
                "<tr><td>NCIS</td>" + d.capTable.map { String(format: "<td>%.6f</td>", $0.ncis) }.joined()
                + "</tr></table>"
        }
        return h + "</body></html>\n"
    }

    /// "+1.23%", or "–" when the logged mean is 0 or the value is not finite.
    static func uplift(_ v: Double, _ logged: Double) -> String {
        guard logged != 0, v.isFinite else { return "–" }
        return String(format: "%+.2f%%", 100 * (v - logged) / logged)
    }

    /// Horizontal interval chart: one row per estimate, a dot at the value, a bar over the
    /// interval, a dashed line at the logged mean.
    static func chart(_ es: [Estimate], logged: Double) -> String {
        let finite = es.flatMap { [$0.interval.low, $0.interval.high, $0.value] }.filter { $0.isFinite } + [logged]
        var lo = finite.min() ?? 0
        var hi = finite.max() ?? 1
        if hi <= lo { hi = lo + 1 }
        let pad = 0.05 * (hi - lo)
        lo -= pad
        hi += pad
        let left = 260.0
        let width = 520.0
        let rowH = 20.0
        let top = 10.0
        let height = top * 2 + rowH * Double(es.count) + 20
        func x(_ v: Double) -> Double { left + (v - lo) / (hi - lo) * width }
        var s = String(
            format: "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" role=\"img\">",
            left + width + 20, height)
        s += String(
            format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>",
            x(logged), top, x(logged), height - 20)
        s += String(
            format:
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" fill=\"#666\">logged %.5f</text>",
            x(logged), height - 6, logged)
        for (i, e) in es.enumerated() {
            let y = top + rowH * (Double(i) + 0.5)
            let label = e.label + (e.cap.map { $0.isInfinite ? "" : String(format: " c=%g", $0) } ?? "")
            s +=
                String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">", left - 8, y + 4)
                + escape(label) + "</text>"
            if e.interval.low.isFinite && e.interval.high.isFinite {
                s += String(
                    format:
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#36c\" stroke-width=\"3\"/>",
                    x(e.interval.low), y, x(e.interval.high), y)
            }
            if e.value.isFinite {
                s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#123\"/>", x(e.value), y)
            }
        }
        return s + "</svg>"
    }
}
