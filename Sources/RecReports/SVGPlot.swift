import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Small inline-SVG charts for the HTML reports: axes with ticks, lines, bars. No scripts, no
/// network; every number is printed with a fixed format, so a report is the same bytes for the
/// same input.
enum SVGPlot {
    /// Escapes text for HTML and SVG.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// About `count` round tick values (steps of 1, 2 or 5 × 10ᵏ) covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> (values: [Double], step: Double) {
        guard lo.isFinite, hi.isFinite, hi > lo else { return ([lo.isFinite ? lo : 0], 1) }
        let raw = (hi - lo) / Double(max(count, 1))
        let p = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * p }.first { $0 >= raw } ?? 10 * p
        var v = ceil(lo / step) * step
        var out = [Double]()
        while v <= hi + step * 1e-9 {
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return (out, step)
    }

    /// A tick label with as many decimals as the step needs.
    static func label(_ v: Double, step: Double) -> String {
        let decimals = max(0, min(12, Int(-floor(log10(step)))))
        return cFormat("%.\(decimals)f", v)
    }

    /// A plot area inside an SVG: data coordinates to pixels.
    struct Frame {
        var left = 70.0
        var top = 20.0
        var width = 520.0
        var height = 220.0
        var x: ClosedRange<Double>
        var y: ClosedRange<Double>

        func px(_ v: Double) -> Double { left + (v - x.lowerBound) / (x.upperBound - x.lowerBound) * width }
        func py(_ v: Double) -> Double { top + height - (v - y.lowerBound) / (y.upperBound - y.lowerBound) * height }
        var svgWidth: Double { left + width + 150 }
        var svgHeight: Double { top + height + 45 }
    }

    /// Opens an SVG element with an id and an accessible title.
    static func open(id: String, width: Double, height: Double, title: String) -> String {
        "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\""
            + cFormat(" width=\"%.0f\" height=\"%.0f\" role=\"img\">", width, height)
            + "<title>\(escape(title))</title>"
    }

    /// The x axis along the bottom of the frame with ticks, labels, light grid lines and a title.
    static func xAxis(_ f: Frame, ticks: [(Double, String)], title: String) -> String {
        let y0 = f.top + f.height
        var s = line(f.left, y0, f.left + f.width, y0, color: "#444")
        for (v, text) in ticks {
            let x = f.px(v)
            s += line(x, f.top, x, y0, color: "#eee")
            s += line(x, y0, x, y0 + 5, color: "#444")
            s += self.text(x, y0 + 18, text, anchor: "middle", size: 11)
        }
        return s + self.text(f.left + f.width / 2, y0 + 36, title, anchor: "middle", size: 12, cls: "axis-title")
    }

    /// The y axis along the left of the frame with ticks, labels, grid lines and a title.
    static func yAxis(_ f: Frame, ticks: [(Double, String)], title: String) -> String {
        var s = line(f.left, f.top, f.left, f.top + f.height, color: "#444")
        for (v, text) in ticks {
            let y = f.py(v)
            s += line(f.left, y, f.left + f.width, y, color: "#eee")
            s += line(f.left - 5, y, f.left, y, color: "#444")
            s += self.text(f.left - 8, y + 4, text, anchor: "end", size: 11)
        }
        let x = 14.0
        let y = f.top + f.height / 2
        return s
            + cFormat(
                "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f %.1f)\">",
                x, y, x, y) + escape(title) + "</text>"
    }

    /// Round ticks of a range, labelled.
    static func labelledTicks(_ r: ClosedRange<Double>, count: Int = 5) -> [(Double, String)] {
        let t = ticks(r.lowerBound, r.upperBound, count: count)
        return t.values.map { ($0, label($0, step: t.step)) }
    }

    static func line(
        _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, color: String, width: Double = 1,
        dash: String? = nil
    ) -> String {
        cFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"", x1, y1, x2, y2) + color
            + cFormat("\" stroke-width=\"%.1f\"", width) + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>"
    }

    static func text(_ x: Double, _ y: Double, _ s: String, anchor: String, size: Int, cls: String? = nil) -> String {
        cFormat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"%ld\" text-anchor=\"", x, y, size) + anchor + "\""
            + (cls.map { " class=\"\($0)\"" } ?? "") + ">" + escape(s) + "</text>"
    }

    /// A polyline through the finite points (gaps where a value is not finite), with dots.
    static func series(_ f: Frame, _ points: [(Double, Double)], color: String, dash: String? = nil) -> String {
        var s = ""
        var run = [(Double, Double)]()
        func flush() {
            if run.count > 1 {
                s +=
                    "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\""
                    + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + " points=\""
                    + run.map { cFormat("%.1f,%.1f", f.px($0.0), f.py($0.1)) }.joined(separator: " ") + "\"/>"
            }
            run = []
        }
        for p in points {
            if p.1.isFinite {
                run.append(p)
                s += cFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"", f.px(p.0), f.py(p.1)) + color + "\"/>"
            } else {
                flush()
            }
        }
        flush()
        return s
    }

    /// A legend to the right of the frame: one line sample and name per entry.
    static func legend(_ f: Frame, _ entries: [(name: String, color: String, dash: String?)]) -> String {
        var s = ""
        for (i, e) in entries.enumerated() {
            let y = f.top + 10 + 18 * Double(i)
            let x = f.left + f.width + 12
            s += line(x, y, x + 22, y, color: e.color, width: 2, dash: e.dash)
            s += text(x + 28, y + 4, e.name, anchor: "start", size: 11)
        }
        return s
    }

    /// The range of the finite values, widened by 5% on each side (and to a unit range when flat).
    static func paddedRange(_ values: [Double], includingZero: Bool = false) -> ClosedRange<Double> {
        let v = values.filter(\.isFinite) + (includingZero ? [0] : [])
        var lo = v.min() ?? 0
        var hi = v.max() ?? 1
        if hi <= lo {
            lo -= 0.5 * max(abs(lo), 1e-9)
            hi += 0.5 * max(abs(hi), 1e-9)
        }
        let pad = 0.05 * (hi - lo)
        return (includingZero && lo >= 0 ? 0 : lo - pad)...(hi + pad)
    }

    /// A script that checks, in the browser, that every chart drew and that no text leaves its
    /// SVG; problems go to the console as errors, and `<body data-checked>` says how many charts
    /// were checked (the headless-browser test reads both).
    static let selfCheck = """
        <script>
        (function () {
          var charts = document.querySelectorAll("svg");
          charts.forEach(function (svg) {
            var w = svg.width.baseVal.value, h = svg.height.baseVal.value;
            if (svg.querySelectorAll("line,polyline,rect,circle").length === 0) console.error("empty chart " + svg.id);
            svg.querySelectorAll("text").forEach(function (t) {
              if (t.getAttribute("transform")) return;  // the rotated axis titles
              var b = t.getBBox();
              var x0 = b.x, y0 = b.y, x1 = b.x + b.width, y1 = b.y + b.height;
              if (x0 < -1 || y0 < -1 || x1 > w + 1 || y1 > h + 1) console.error("text outside " + svg.id + ": " + t.textContent);
            });
          });
          document.body.setAttribute("data-checked", String(charts.length));
        })();
        </script>
        """
}
