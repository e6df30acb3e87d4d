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

/// A self-contained HTML report (inline CSS and SVG, no network) of a training run: validation
/// and test HR@k and NDCG@k per event type by epoch, the losses by epoch, the chosen epoch marked,
/// and the chosen epoch's tables.
public enum TrainingReportHTML {
    static let colors = ["#36c", "#d62", "#393", "#939", "#c90", "#066", "#a33", "#555"]

    /// The page of a training run's `report` (a complete HTML document) for `model` trained on `source`.
    public static func render(_ report: TrainingRun.Report, model: ModelConfig, source: String) -> String {
        let best = report.best
        var h = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>RecKit training report</title>
            \(ReportHTML.style)</head><body>
            <h1>Training report</h1>
            <p id="summary">\(SVGPlot.escape(model.algorithm.rawValue.uppercased())) on \
            <code>\(SVGPlot.escape(source))</code>: \(model.items) items, \(model.encoder.rawValue) encoder \
            (d = \(model.dim), blocks \(model.blocks), heads \(model.heads), L = \(model.length)); \
            \(report.epochs.count) epochs, \(cFormat("%.0f", report.sequencesPerSecond)) sequences/s. \
            Chosen epoch: <strong id="chosen-epoch">\(best.epoch + 1)</strong>, by validation \
            \(SVGPlot.escape(report.selectBy)).</p>
            """
        let cutoff = best.validation.cutoffs.contains(10) ? 10 : (best.validation.cutoffs.first ?? 10)
        h += ReportHTML.figure(
            metricChart(report, cutoff: cutoff, ndcg: false, id: "hr-by-epoch"),
            "HR@\(cutoff) per event type by epoch: solid validation, dashed test; the vertical line marks the chosen epoch."
        )
        h += ReportHTML.figure(
            metricChart(report, cutoff: cutoff, ndcg: true, id: "ndcg-by-epoch"),
            "NDCG@\(cutoff) per event type by epoch: solid validation, dashed test.")
        h += ReportHTML.figure(lossChart(report, id: "loss-by-epoch"), "Mean training loss by epoch.")
        h += "<h2>Chosen epoch (\(best.epoch + 1)): test</h2>" + metricsTable(best.test, id: "test-table")
        h += "<h2>Chosen epoch (\(best.epoch + 1)): validation</h2>" + metricsTable(best.validation, id: "valid-table")
        if let q = best.testQ { h += "<h2>Chosen epoch: test, Q head</h2>" + metricsTable(q, id: "test-q-table") }
        h += epochsTable(report)
        return h + SVGPlot.selfCheck + "</body></html>\n"
    }

    static func value(_ m: RankingMetrics, _ event: String, _ k: Int, ndcg: Bool) -> Double {
        (ndcg ? m.ndcg(event, at: k) : m.hitRate(event, at: k)) ?? .nan
    }

    static func epochFrame(_ report: TrainingRun.Report, values: [Double]) -> SVGPlot.Frame {
        let n = Double(max(report.epochs.count, 1))
        return SVGPlot.Frame(x: 0.5...(n + 0.5), y: SVGPlot.paddedRange(values, includingZero: true))
    }

    static func epochTicks(_ report: TrainingRun.Report) -> [(Double, String)] {
        let n = report.epochs.count
        let step = max(1, Int((Double(n) / 10).rounded(.up)))
        return stride(from: 1, through: n, by: step).map { (Double($0), "\($0)") }
    }

    static func chosenMarker(_ f: SVGPlot.Frame, _ report: TrainingRun.Report) -> String {
        guard let i = report.epochs.firstIndex(where: { $0.epoch == report.bestEpoch }) else { return "" }
        let x = f.px(Double(i + 1))
        return SVGPlot.line(x, f.top, x, f.top + f.height, color: "#999", width: 1.5, dash: "2 3")
            + SVGPlot.text(x, f.top - 4, "chosen", anchor: "middle", size: 10)
    }

    static func metricChart(_ report: TrainingRun.Report, cutoff k: Int, ndcg: Bool, id: String) -> String {
        let events = report.epochs.first?.validation.eventTypes ?? []
        var all = [Double]()
        for e in report.epochs {
            for t in events { all += [value(e.validation, t, k, ndcg: ndcg), value(e.test, t, k, ndcg: ndcg)] }
        }
        var f = epochFrame(report, values: all)
        f.top = 24
        let name = ndcg ? "NDCG@\(k)" : "HR@\(k)"
        var s = SVGPlot.open(id: id, width: f.svgWidth, height: f.svgHeight, title: "\(name) by epoch")
        s += SVGPlot.xAxis(f, ticks: epochTicks(report), title: "epoch")
        s += SVGPlot.yAxis(f, ticks: SVGPlot.labelledTicks(f.y), title: name)
        s += chosenMarker(f, report)
        var legend = [(name: String, color: String, dash: String?)]()
        for (j, t) in events.enumerated() {
            let color = colors[j % colors.count]
            let pts = report.epochs.enumerated().map { (Double($0.offset + 1), $0.element) }
            s += SVGPlot.series(f, pts.map { ($0.0, value($0.1.validation, t, k, ndcg: ndcg)) }, color: color)
            s += SVGPlot.series(f, pts.map { ($0.0, value($0.1.test, t, k, ndcg: ndcg)) }, color: color, dash: "5 3")
            legend += [("\(t) valid", color, nil), ("\(t) test", color, "5 3")]
        }
        return s + SVGPlot.legend(f, legend) + "</svg>"
    }

    static func lossChart(_ report: TrainingRun.Report, id: String) -> String {
        let pts = report.epochs.enumerated().map { (Double($0.offset + 1), $0.element) }
        var series: [(String, [Double])] = [("total", pts.map { $0.1.loss })]
        if pts.contains(where: { ($0.1.qLoss ?? 0) != 0 }) {
            series += [("cross-entropy", pts.map { $0.1.ceLoss ?? .nan }), ("TD (Q)", pts.map { $0.1.qLoss ?? .nan })]
        }
        var f = epochFrame(report, values: series.flatMap(\.1))
        f.top = 24
        var s = SVGPlot.open(id: id, width: f.svgWidth, height: f.svgHeight, title: "Loss by epoch")
        s += SVGPlot.xAxis(f, ticks: epochTicks(report), title: "epoch")
        s += SVGPlot.yAxis(f, ticks: SVGPlot.labelledTicks(f.y), title: "mean loss")
        s += chosenMarker(f, report)
        for (j, (_, v)) in series.enumerated() {
            s += SVGPlot.series(f, zip(pts.map(\.0), v).map { ($0, $1) }, color: colors[j])
        }
        return s + SVGPlot.legend(f, series.enumerated().map { ($0.element.0, colors[$0.offset], nil) }) + "</svg>"
    }

    static func metricsTable(_ m: RankingMetrics, id: String) -> String {
        var h =
            "<table id=\"\(id)\"><tr><th>event</th><th>events</th>"
            + m.cutoffs.map { "<th>HR@\($0)</th><th>NDCG@\($0)</th>" }.joined() + "</tr>"
        for (t, e) in m.eventTypes.enumerated() where m.counts[t] > 0 {
            h += "<tr><td>\(SVGPlot.escape(e))</td><td>\(m.counts[t])</td>"
            for k in m.cutoffs {
                h += cFormat(
                    "<td>%.4f</td><td>%.4f</td>", m.hitRate(e, at: k) ?? .nan, m.ndcg(e, at: k) ?? .nan)
            }
            h += "</tr>"
        }
        return h + "</table>"
    }

    static func epochsTable(_ report: TrainingRun.Report) -> String {
        let select = report.selectBy
        var h = "<h2>Every epoch</h2><table id=\"epochs\"><tr><th>epoch</th><th>step</th><th>loss</th>"
        h += "<th>validation \(SVGPlot.escape(select))</th><th>seconds</th></tr>"
        for e in report.epochs {
            let v = e.validation.flat.first { $0.name == select }?.value ?? .nan
            let mark = e.epoch == report.bestEpoch ? " (chosen)" : ""
            h += "<tr><td>\(e.epoch + 1)\(mark)</td><td>\(e.step)</td>"
            h += cFormat("<td>%.4f</td><td>%.4f</td><td>%.1f</td></tr>", e.loss, v, e.seconds)
        }
        return h + "</table>"
    }
}
