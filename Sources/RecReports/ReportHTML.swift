import RecCore
import RecOPE
import RecRL

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A self-contained HTML report (inline CSS and SVG, no network) of an offline A/B test: per
/// policy an interval chart of every estimate against the logged mean, the cap curve (CIS and NCIS
/// against the weight cap), a histogram of the importance weights, the estimates table and the
/// diagnostics.
public enum ReportHTML {
    static let style = """
        <style>body{font:14px system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
        table{border-collapse:collapse;margin:1em 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
        th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.warn{color:#a40}
        figure{margin:1em 0}figcaption{color:#555;font-size:13px}svg text{font-family:system-ui,sans-serif}</style>
        """

    /// The page of `report` (a complete HTML document).
    public static func render(_ report: OfflineABReport) -> String {
        let logged = report.loggedMean
        // A slate log's estimates are sums of rewards per slate, its logged value too.
        let perSlate = report.evaluations.allSatisfy { $0.estimates.allSatisfy(\.estimator.isSlate) }
        var h = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>RecKit offline A/B report</title>
            \(style)</head><body>
            <h1>Offline A/B report</h1>
            <p id="summary">Logs: <code>\(SVGPlot.escape(report.logs))</code>, \(report.rows) rows, logged mean reward \
            \(perSlate ? "per slate " : "")\(cFormat("%.6f", logged)); \(report.passes) passes over the data.</p>
            """
        for w in report.warnings { h += "<p class=\"warn\">\(SVGPlot.escape(w))</p>" }
        for (i, e) in report.evaluations.enumerated() {
            h += "<section id=\"policy-\(i)\"><h2>\(SVGPlot.escape(e.policy))</h2>"
            for w in e.warnings { h += "<p class=\"warn\">\(SVGPlot.escape(w))</p>" }
            h += figure(
                intervalChart(e.estimates, logged: logged, id: "intervals-\(i)", perSlate: perSlate),
                "Every estimate (dot) with its interval (bar); dashed: the logged policy's "
                    + (perSlate ? "reward per slate." : "mean reward."))
            h += estimatesTable(e.estimates, logged: logged, id: "estimates-\(i)")
            h += diagnostics(e.diagnostics, rows: report.rows)
            if !e.diagnostics.capTable.isEmpty {
                h += figure(
                    capCurve(e.diagnostics.capTable, logged: logged, id: "cap-curve-\(i)"),
                    "CIS and NCIS against the weight cap c (∞: no cap, IS and SNIPS); dashed: the logged mean.")
            }
            if let bins = e.diagnostics.weightHistogram {
                h += figure(
                    weightHistogram(bins, id: "weights-\(i)"),
                    "Rows by importance weight w = target probability / logging probability (binary bins).")
            }
            h += "</section>"
        }
        return h + SVGPlot.selfCheck + "</body></html>\n"
    }

    static func figure(_ svg: String, _ caption: String) -> String {
        "<figure>\(svg)<figcaption>\(SVGPlot.escape(caption))</figcaption></figure>"
    }

    /// An estimate's row label: the estimator, its grouping and reward model, and its cap.
    static func rowLabel(_ e: Estimate) -> String {
        guard let c = e.cap else { return e.label }
        let value = c.isInfinite ? "∞" : cFormat("%g", c)
        let name: String
        switch e.estimator {
        case .SwitchDR: name = ", τ="
        case .DRos, .SubGaussianIPW, .SubGaussianDR: name = ", λ="
        default: name = ", c="
        }
        return e.label + name + value
    }

    static func estimatesTable(_ es: [Estimate], logged: Double, id: String) -> String {
        var h =
            "<table id=\"\(id)\"><tr><th>estimator</th><th>reward model</th><th>cap</th><th>value</th><th>interval</th>"
            + "<th>method</th><th>normal interval</th><th>uplift</th></tr>"
        for s in es {
            let cap = s.cap.map { $0.isInfinite ? "∞" : cFormat("%g", $0) } ?? "–"
            h +=
                "<tr><td>\(SVGPlot.escape(s.estimator.rawValue + (s.grouping.map { " by \($0)" } ?? "")))</td>"
                + "<td>\(s.model?.rawValue ?? "–")</td><td>\(cap)</td>"
                + cFormat(
                    "<td>%.6f</td><td>[%.6f, %.6f]</td>", s.value, s.interval.low, s.interval.high)
                + "<td>\(s.method.rawValue)</td>"
                + cFormat("<td>[%.6f, %.6f]</td>", s.normal.low, s.normal.high)
                + "<td>\(uplift(s.value, logged))</td></tr>"
        }
        return h + "</table>"
    }

    static func diagnostics(_ d: WeightDiagnostics, rows: Int) -> String {
        var h =
            cFormat(
                "<p>Effective sample size %.0f of %ld; max weight %.3g; mean weight %.3f; ",
                d.effectiveSampleSize, rows, d.maxWeight, d.meanWeight)
            + (d.unsupportedMass.map { cFormat("target mass on unlogged pairs %.3g.</p>", $0) }
                ?? (d.capTable.isEmpty
                    ? "the weights of the first slate estimator.</p>" : "unsupported mass not computed (one pass).</p>"))
        guard !d.capTable.isEmpty else { return h }
        h +=
            "<table><tr><th>cap</th>"
            + d.capTable.map { "<th>\($0.cap.isInfinite ? "∞" : cFormat("%g", $0.cap))</th>" }.joined()
            + "</tr>"
        h += "<tr><td>CIS</td>" + d.capTable.map { cFormat("<td>%.6f</td>", $0.cis) }.joined() + "</tr>"
        return h + "<tr><td>NCIS</td>" + d.capTable.map { cFormat("<td>%.6f</td>", $0.ncis) }.joined()
            + "</tr></table>"
    }

    /// "+1.23%", or "–" when the logged mean is 0 or the value is not finite.
    /// `v` against the logged mean as a signed percentage ("+12.3%"), or "-" when undefined.
    public static func uplift(_ v: Double, _ logged: Double) -> String {
        guard logged != 0, v.isFinite else { return "–" }
        return cFormat("%+.2f%%", 100 * (v - logged) / logged)
    }

    /// Horizontal interval chart: one labelled row per estimate, a dot at the value, a bar over
    /// the interval, a dashed line at the logged mean, an x axis with ticks.
    static func intervalChart(_ es: [Estimate], logged: Double, id: String, perSlate: Bool = false) -> String {
        let values = es.flatMap { [$0.interval.low, $0.interval.high, $0.value] } + [logged]
        let rowH = 20.0
        let f = SVGPlot.Frame(
            left: 260, top: 10, width: 560, height: rowH * Double(max(es.count, 1)),
            x: SVGPlot.paddedRange(values), y: 0...Double(max(es.count, 1)))
        var s = SVGPlot.open(
            id: id, width: f.left + f.width + 30, height: f.svgHeight, title: "Estimates and intervals")
        s += SVGPlot.xAxis(
            f, ticks: SVGPlot.labelledTicks(f.x),
            title: perSlate ? "estimated reward per slate" : "estimated mean reward")
        s += SVGPlot.line(f.px(logged), f.top, f.px(logged), f.top + f.height, color: "#888", dash: "4 3")
        for (i, e) in es.enumerated() {
            let y = f.top + rowH * (Double(i) + 0.5)
            s += SVGPlot.text(f.left - 8, y + 4, rowLabel(e), anchor: "end", size: 12)
            if e.interval.low.isFinite && e.interval.high.isFinite {
                s += SVGPlot.line(f.px(e.interval.low), y, f.px(e.interval.high), y, color: "#36c", width: 3)
            }
            if e.value.isFinite {
                s += cFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#123\"/>", f.px(e.value), y)
            }
        }
        return s + "</svg>"
    }

    /// CIS and NCIS against the cap: caps on a log axis, ∞ one step to the right of the largest.
    static func capCurve(_ rows: [CapRow], logged: Double, id: String) -> String {
        let finite = rows.filter { $0.cap.isFinite }.map(\.cap)
        let lo = log10(finite.min() ?? 1)
        let top = log10(finite.max() ?? 10)
        let infX = top + max(0.3, (top - lo) / Double(max(finite.count, 1)))
        func x(_ c: Double) -> Double { c.isFinite ? log10(c) : infX }
        let f = SVGPlot.Frame(
            x: (lo - 0.1)...(infX + 0.1), y: SVGPlot.paddedRange(rows.flatMap { [$0.cis, $0.ncis] } + [logged]))
        var s = SVGPlot.open(id: id, width: f.svgWidth, height: f.svgHeight, title: "CIS and NCIS against the cap")
        let xt = rows.map { (x($0.cap), $0.cap.isFinite ? cFormat("%g", $0.cap) : "∞") }
        s += SVGPlot.xAxis(f, ticks: xt, title: "weight cap c")
        s += SVGPlot.yAxis(f, ticks: SVGPlot.labelledTicks(f.y), title: "estimate")
        s += SVGPlot.line(f.left, f.py(logged), f.left + f.width, f.py(logged), color: "#888", dash: "4 3")
        s += SVGPlot.series(f, rows.map { (x($0.cap), $0.cis) }, color: "#36c")
        s += SVGPlot.series(f, rows.map { (x($0.cap), $0.ncis) }, color: "#d62")
        s += SVGPlot.legend(f, [("CIS", "#36c", nil), ("NCIS", "#d62", nil), ("logged mean", "#888", "4 3")])
        return s + "</svg>"
    }

    /// Rows per weight bin, from the first non-empty bin to the last.
    static func weightHistogram(_ bins: [WeightBin], id: String) -> String {
        let used = bins.indices.filter { bins[$0].rows > 0 }
        let shown = used.isEmpty ? [] : Array(bins[used.first!...used.last!])
        let maxRows = Double(shown.map(\.rows).max() ?? 1)
        let f = SVGPlot.Frame(
            width: max(240, min(620, 34 * Double(shown.count))), x: 0...Double(max(shown.count, 1)),
            y: 0...(maxRows * 1.05))
        var s = SVGPlot.open(id: id, width: f.svgWidth, height: f.svgHeight, title: "Importance weights")
        s += SVGPlot.yAxis(f, ticks: SVGPlot.labelledTicks(f.y).filter { $0.0 == $0.0.rounded() }, title: "rows")
        var ticks = [(Double, String)]()
        for (k, b) in shown.enumerated() {
            let x0 = f.px(Double(k) + 0.1)
            let x1 = f.px(Double(k) + 0.9)
            s +=
                cFormat(
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#36c\"><title>",
                    x0, f.py(Double(b.rows)), x1 - x0, f.py(0) - f.py(Double(b.rows))) + binName(b)
                + cFormat(": %ld rows</title></rect>", b.rows)
            ticks.append((Double(k) + 0.5, binTick(b)))
        }
        s += SVGPlot.xAxis(f, ticks: ticks, title: "importance weight (bin lower edge)")
        return s + "</svg>"
    }

    /// A bin's tick: its lower edge, as a number from 1 to 1024 and as a power of two otherwise.
    static func binTick(_ b: WeightBin) -> String {
        if b.high == 0 { return "0" }
        if b.low == 0 { return "<2⁻¹⁰" }
        let e = Int(b.low.exponent)
        return (0...10).contains(e) ? cFormat("%g", b.low) : "2" + superscript(e)
    }

    static func superscript(_ n: Int) -> String {
        let digits = Array("⁰¹²³⁴⁵⁶⁷⁸⁹")
        return (n < 0 ? "⁻" : "") + String(String(abs(n)).map { digits[Int(String($0))!] })
    }

    static func binName(_ b: WeightBin) -> String {
        if b.high == 0 { return "w = 0" }
        guard let hi = b.high else { return cFormat("w ≥ %g", b.low) }
        return cFormat("%g ≤ w < %g", b.low, hi)
    }
}
