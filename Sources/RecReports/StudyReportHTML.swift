import RecCore
import RecRL

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A self-contained HTML report (inline CSS and SVG, the training report's plotting code) of a
/// study: each method's compared metric by seed with its mean, the metrics table (mean ± sd
/// over seeds), the significance table against the reference, and the tuning curves of tuned
/// methods.
public enum StudyReportHTML {
    /// The page of `report` on `source`; `tuning` holds, per tuned method, each trial's
    /// validation value in trial order.
    public static func render(_ report: Study.Report, source: String, tuning: [(String, [Double])] = []) -> String {
        let seeds = report.seeds.map(String.init).joined(separator: ", ")
        var h = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>RecKit study report</title>
            \(ReportHTML.style)</head><body>
            <h1>Study report</h1>
            <p id="summary">\(report.methods.count) methods on <code>\(SVGPlot.escape(source))</code> over \
            seeds \(seeds) (split and training), each ranking the same test queries against the whole \
            catalog. Reference: <strong id="reference">\(SVGPlot.escape(report.reference))</strong>\
            \(report.baselines.contains(report.reference) ? ", the best baseline by mean " : " by choice; metric ")\
            \(SVGPlot.escape(report.metric)). \(cFormat("%.0f", report.seconds)) s.</p>
            """
        h += ReportHTML.figure(
            methodChart(report, id: "metric-by-method"),
            "\(report.metric) per method: each seed's value (dots), the mean (bar) and the pooled 95% paired bootstrap interval of the reference's value shifted by each method's difference (line); the dashed line is the reference's mean."
        )
        h += "<h2>Against \(SVGPlot.escape(report.reference))</h2>" + significanceTable(report)
        h += "<h2>Test metrics, mean ± sd over seeds</h2>" + metricsTable(report)
        for (k, (name, values)) in tuning.enumerated() where !values.isEmpty {
            h += ReportHTML.figure(
                tuningChart(values, name: name, id: "tuning-\(k)"),
                "\(name): each trial's validation value (dots) and the best so far (line), by trial.")
        }
        h += runsTable(report)
        return h + SVGPlot.selfCheck + "</body></html>\n"
    }

    /// The metrics of the table: per event type, HR and NDCG at 10 and 20.
    static func metricNames(_ report: Study.Report) -> [String] {
        let events = report.runs.first?.test.eventTypes ?? []
        return events.flatMap { e in ["hr@10", "ndcg@10", "hr@20", "ndcg@20"].map { "\(e)_\($0)" } }
    }

    static func meanSD(_ v: [Double]) -> (Double, Double) {
        let f = v.filter(\.isFinite)
        guard !f.isEmpty else { return (.nan, .nan) }
        let m = f.reduce(0, +) / Double(f.count)
        guard f.count > 1 else { return (m, 0) }
        let s = (f.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(f.count - 1)).squareRoot()
        return (m, s)
    }

    static func methodChart(_ report: Study.Report, id: String) -> String {
        let rowH = 22.0
        var all = [Double]()
        for m in report.methods {
            all += report.values(m, metric: report.metric)
            if let c = report.comparisons[m] { all += [c.b + c.lower, c.b + c.upper] }
        }
        let n = Double(max(report.methods.count, 1))
        let f = SVGPlot.Frame(
            left: 150, top: 10, width: 560, height: rowH * n, x: SVGPlot.paddedRange(all, includingZero: true),
            y: 0...n)
        var s = SVGPlot.open(id: id, width: f.left + f.width + 30, height: f.svgHeight, title: "Metric by method")
        s += SVGPlot.xAxis(f, ticks: SVGPlot.labelledTicks(f.x), title: "test \(report.metric)")
        let refMean = meanSD(report.values(report.reference, metric: report.metric)).0
        if refMean.isFinite {
            s += SVGPlot.line(f.px(refMean), f.top, f.px(refMean), f.top + f.height, color: "#888", dash: "4 3")
        }
        for (i, m) in report.methods.enumerated() {
            let y = f.top + rowH * (Double(i) + 0.5)
            let color = report.baselines.contains(m) ? "#36c" : "#d62"
            s += SVGPlot.text(f.left - 8, y + 4, m, anchor: "end", size: 12)
            if let c = report.comparisons[m], (c.b + c.lower).isFinite, (c.b + c.upper).isFinite {
                s += SVGPlot.line(f.px(c.b + c.lower), y, f.px(c.b + c.upper), y, color: color, width: 2)
            }
            let v = report.values(m, metric: report.metric)
            let mean = meanSD(v).0
            if mean.isFinite {
                s += SVGPlot.line(f.px(mean), y - 7, f.px(mean), y + 7, color: "#123", width: 3)
            }
            for x in v where x.isFinite {
                s += cFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"", f.px(x), y) + color + "\"/>"
            }
        }
        return s + "</svg>"
    }

    static func significanceTable(_ report: Study.Report) -> String {
        var h =
            "<table id=\"significance\"><tr><th>method</th><th>\(SVGPlot.escape(report.metric))</th>"
            + "<th>difference</th><th>95% interval</th><th>p</th><th>sessions</th></tr>"
        for m in report.methods {
            guard let c = report.comparisons[m] else {
                h += "<tr><td>\(SVGPlot.escape(m)) (reference)</td><td colspan=\"5\"></td></tr>"
                continue
            }
            h += "<tr><td>\(SVGPlot.escape(m))</td>"
            h += cFormat(
                "<td>%.4f</td><td>%+.4f</td><td>[%+.4f, %+.4f]</td><td>%.4f</td><td>%ld</td></tr>", c.a, c.difference,
                c.lower, c.upper, c.pValue, c.sessions)
        }
        return h
            + "</table><p>Sessions of every seed pooled; \(report.comparisons.values.first?.replicates ?? 0) bootstrap draws and sign flips.</p>"
    }

    static func metricsTable(_ report: Study.Report) -> String {
        let names = metricNames(report)
        var h = "<table id=\"metrics\"><tr><th>method</th>" + names.map { "<th>\(SVGPlot.escape($0))</th>" }.joined()
        h += "</tr>"
        for m in report.methods {
            h += "<tr><td>\(SVGPlot.escape(m))</td>"
            for n in names {
                let (mean, sd) = meanSD(report.values(m, metric: n))
                h += cFormat("<td>%.4f&nbsp;±&nbsp;%.4f</td>", mean, sd)
            }
            h += "</tr>"
        }
        return h + "</table>"
    }

    static func runsTable(_ report: Study.Report) -> String {
        var h = "<h2>Every run</h2><table id=\"runs\"><tr><th>method</th><th>seed</th>"
        h += "<th>\(SVGPlot.escape(report.metric))</th><th>chosen epoch</th><th>seconds</th></tr>"
        for r in report.runs {
            h += "<tr><td>\(SVGPlot.escape(r.method))</td><td>\(r.seed)</td>"
            h += cFormat("<td>%.4f</td>", r.test.value(report.metric) ?? .nan)
            h += "<td>\(r.bestEpoch.map(String.init) ?? "")</td>"
            h += "<td>\(r.seconds.map { cFormat("%.1f", $0) } ?? "loaded")</td></tr>"
        }
        return h + "</table>"
    }

    static func tuningChart(_ values: [Double], name: String, id: String) -> String {
        var best = -Double.infinity
        var running = [(Double, Double)]()
        for (i, v) in values.enumerated() {
            if v.isFinite { best = max(best, v) }
            running.append((Double(i + 1), best.isFinite ? best : .nan))
        }
        var f = SVGPlot.Frame(
            x: 0.5...(Double(values.count) + 0.5), y: SVGPlot.paddedRange(values, includingZero: false))
        f.top = 24
        var s = SVGPlot.open(id: id, width: f.svgWidth, height: f.svgHeight, title: "Tuning of \(name)")
        let step = max(1, Int((Double(values.count) / 10).rounded(.up)))
        s += SVGPlot.xAxis(
            f, ticks: stride(from: 1, through: values.count, by: step).map { (Double($0), "\($0)") }, title: "trial")
        s += SVGPlot.yAxis(f, ticks: SVGPlot.labelledTicks(f.y), title: "validation")
        for (i, v) in values.enumerated() where v.isFinite {
            s += cFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#999\"/>", f.px(Double(i + 1)), f.py(v))
        }
        s += SVGPlot.series(f, running, color: "#36c")
        s += SVGPlot.legend(f, [("best so far", "#36c", nil)])
        return s + "</svg>"
    }

    /// The study as a text table: the compared metric's mean ± sd, and against the reference.
    public static func table(_ report: Study.Report) -> String {
        let width = min(max(report.methods.map(\.count).max() ?? 0, 8), 40)
        func pad(_ s: String) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
        var out = "\(report.metric), mean ± sd over seeds \(report.seeds.map(String.init).joined(separator: ", ")); "
        out += "against \(report.reference) (sessions pooled over seeds):\n"
        for m in report.methods {
            let (mean, sd) = meanSD(report.values(m, metric: report.metric))
            out += "  " + pad(m) + cFormat("  %.4f ± %.4f", mean, sd)
            if let c = report.comparisons[m] {
                out += cFormat("  %+.4f [%+.4f, %+.4f]  p = %.4f", c.difference, c.lower, c.upper, c.pValue)
            } else {
                out += "  (reference)"
            }
            out += "\n"
        }
        return out
    }
}
