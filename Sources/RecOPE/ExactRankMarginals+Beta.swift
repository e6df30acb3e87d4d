import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Exact rank marginals of Beta-based scores, `Y = max(s·X + t, floor)` with X ~ Beta(a, b)
/// (Thompson sampling, its optimistic floor and priority boosts), integrated in logistic
/// coordinates.
///
/// A Beta with a shape below 1 has a density singular at that end of its support and much of its
/// mass squeezed against it: with b = 0.1, P(1 − X < 1e-16) ≈ 0.1, closer to 1 than Double can place
/// a point; with a = 0.001, P(X < 1e-300) ≈ 0.5. No quadrature in the score itself resolves that.
/// Ranks depend only on the order of the scores, so any increasing change of variable gives the
/// same marginals. The score axis is cut at every item's support end (`c₀ < c₁ < …`: 0 and 1
/// without boosts) and each piece `(cᵢ, cᵢ₊₁)` is integrated in `u ∈ ℝ` with
/// `x = cᵢ + Δ·σ(u)`, `σ` the logistic function. An item whose support ends at `cᵢ` then has
/// `log X = log(Δ/s) + log σ(u)` and, at `cᵢ₊₁`, `log(1 − X) = log(Δ/s) + log σ(−u)`, both exact for
/// any u, and its density in u, `σ(u)^a σ(−u)^b / B(a, b)` for a plain Beta, is smooth and
/// log-concave: exponential tails with rates a and b, no singularity at all.
///
/// Panels in u are no wider than each active item's local scale (`2/|slope|` and
/// `1/√|curvature|` of its log-density, and half the distance to the piece's centre) nor than the
/// top ranks' scale (`2/Σ fⱼ/Gⱼ`, see `logisticPanelWidth`), with
/// breakpoints at every item's truncation points (quantiles 1e-15 and 1 − 1e-15, computed in log
/// space where Double underflows), its floor and u = 0. Each panel
/// gets 12-point Gauss–Legendre nodes; the CDFs are carried along by the integration matrix and
/// set again to exact values (`I_x(a, b)` from `log x` and `log(1 − x)`) at every piece's start.
///
/// Error estimate: the largest difference between a carried CDF and the exact one at each piece's
/// end, and between each rank's column sum and 1. Above `tolerance` the result is refused.
extension ExactRankMarginals {
    /// The largest error estimate the exact marginals accept.
    static let tolerance = 1e-6
    /// A panel spans at most this many units of each active item's log-density slope (and of the
    /// order statistics' reverse-hazard sum)...
    ///
    /// Measured with the reverse-hazard limit: 2 and 1 give column sums within 5e-14 (100
    /// identical Beta(1, 30) items), 6e-13 (500 of Beta(2, 50)) and 2e-12 (the OBD prior) at
    /// k = 10; 4 and 1 left 6e-7 and 1e-6 on the first two (the CDFs carried between nodes were
    /// off by about 1e-9, and the deep ranks multiply that by the items).
    static let slopeWidth = 2.0
    /// ...and at most this many of its local standard deviations, 1/√|curvature|.
    static let curvatureWidth = 1.0

    /// One Beta-based item: support [lo, hi] = [t, t + s], shape, floor.
    struct BetaItem {
        let a: Double, b: Double
        /// −log B(a, b) − log s: the log-density's constant in the score.
        let logNorm: Double
        let lo: Double, hi: Double, logScale: Double
        /// −inf when there is none.
        let floor: Double
        /// Mass of the atom at the floor.
        let atom: Double

        init?(_ d: ScoreDistribution) {
            let flat = FlatScore(d)
            guard flat.isBeta else { return nil }
            a = flat.a
            b = flat.b
            logScale = log(flat.scale)
            logNorm = -SpecialFunctions.logBeta(a, b) - logScale
            lo = flat.shift
            hi = flat.shift + flat.scale
            floor = flat.floor > lo ? flat.floor : -.infinity
            // P(s·X + t ≤ floor) in X's own coordinates: the distribution's cdf at the floor maps
            // it back through the affine, and (s·m + t − t)/s can round below m, where a floored
            // cdf is 0 (a boosted optimistic item lost its atom).
            atom =
                floor > lo
                ? SpecialFunctions.regularizedIncompleteBeta(a, b, min(max((floor - lo) / flat.scale, 0), 1)) : 0
        }

        /// A point of the support given by its distance to one end, in logs: `lower` → x − lo,
        /// otherwise hi − x.
        struct Point {
            let lower: Bool
            let logDistance: Double
        }

        /// The quantile at `level`, from the nearer end (log space where the quantile underflows:
        /// I_x(a, b) ≈ xᵃ/(a·B(a, b)) for x → 0). Only its placement matters.
        func quantile(_ level: Double) -> Point {
            let lower = level <= 0.5
            let (p, q, l) = lower ? (a, b, level) : (b, a, 1 - level)
            let asymptotic = (log(l) + log(p) + SpecialFunctions.logBeta(p, q)) / p
            let logQ =
                asymptotic < -600 ? asymptotic : log(SpecialFunctions.betaQuantile(p, q, l, tolerance: 1e-9))
            return Point(lower: lower, logDistance: logQ + logScale)
        }
    }

    /// A piece `(c, c + Δ)` of the score axis and its items.
    struct Piece {
        let c: Double, end: Double, delta: Double, logDelta: Double
        /// Items with mass in the piece, their frames.
        var frames: [Frame] = []
        var uLo = Double.infinity, uHi = -Double.infinity

        init(_ c: Double, _ end: Double) {
            self.c = c
            self.end = end
            delta = end - c
            logDelta = log(delta)
        }

        /// u of a point given by its distance to one end of item `item` (nil outside the piece).
        func u(of p: BetaItem.Point, item: BetaItem) -> Double? {
            let gap = p.lower ? c - item.lo : item.hi - end
            if gap == 0 {
                // log σ(±u) = log distance − log Δ, exact.
                let l = p.logDistance - logDelta
                guard l < 0 else { return nil }
                let v = l - log(-expm1(l))
                return p.lower ? v : -v
            }
            let d = exp(p.logDistance)
            let near = d - gap
            let far = delta - near
            guard near > 0 && far > 0 else { return nil }
            let v = log(near / far)
            return p.lower ? v : -v
        }

        /// u of a score x strictly inside the piece.
        func u(ofScore x: Double) -> Double? {
            guard x > c && x < end else { return nil }
            return log((x - c) / (end - x))
        }
    }

    /// Item `j` in a piece: the gaps from the piece's ends to its support's ends (0: its support
    /// ends there, where its logarithms are exact), its floor and where it is active.
    struct Frame {
        let j: Int
        let aGap: Double, bGap: Double
        /// u of the floor: the density is 0 at or below it (−inf when none is in the piece).
        let uFloor: Double
        var cutLo: Double, cutHi: Double
    }

    /// Logistic values at u: σ(u), σ(−u) and their logarithms.
    struct Logistic {
        let s1: Double, s0: Double, l1: Double, l0: Double
        init(_ u: Double) {
            if u < 0 {
                let e = exp(u)
                s1 = e / (1 + e)
                s0 = 1 / (1 + e)
                l1 = u - log1p(e)
                l0 = -log1p(e)
            } else {
                let e = exp(-u)
                s1 = 1 / (1 + e)
                s0 = e / (1 + e)
                l1 = -log1p(e)
                l0 = -u - log1p(e)
            }
        }
    }

    /// log X and log(1 − X) of item `f`'s Beta variable at the node.
    @inline(__always)
    static func logs(_ f: Frame, _ it: BetaItem, _ piece: Piece, _ s: Logistic) -> (Double, Double) {
        let lx = f.aGap == 0 ? piece.logDelta + s.l1 : log(f.aGap + piece.delta * s.s1)
        let ly = f.bGap == 0 ? piece.logDelta + s.l0 : log(f.bGap + piece.delta * s.s0)
        return (lx - it.logScale, ly - it.logScale)
    }

    /// Log-density in u of item `f` at the node (−inf at or below its floor). At an end where
    /// the support ends, `(a − 1)·log X + log σ(u)` is formed as `a·log σ(u) + (a − 1)·log(Δ/s)`:
    /// with a = 1e-50 and u = −1e51 the first form cancels to 0.
    @inline(__always)
    static func logDensity(_ f: Frame, _ it: BetaItem, _ piece: Piece, _ s: Logistic, u: Double) -> Double {
        if u <= f.uFloor { return -.infinity }
        let r = piece.logDelta - it.logScale
        let left =
            f.aGap == 0
            ? it.a * s.l1 + (it.a - 1) * r : (it.a - 1) * (log(f.aGap + piece.delta * s.s1) - it.logScale) + s.l1
        let right =
            f.bGap == 0
            ? it.b * s.l0 + (it.b - 1) * r : (it.b - 1) * (log(f.bGap + piece.delta * s.s0) - it.logScale) + s.l0
        return left + right + it.logNorm + piece.logDelta
    }

    /// The exact CDF of item `f` at u.
    static func cdf(_ f: Frame, _ it: BetaItem, _ piece: Piece, u: Double) -> Double {
        if u < f.uFloor { return 0 }
        let (lx, ly) = logs(f, it, piece, Logistic(u))
        return SpecialFunctions.regularizedIncompleteBeta(it.a, it.b, logX: lx, log1mX: ly)
    }

    /// The panel width item `f`'s log-density allows at u: 2/|slope| and 1/√|curvature| (each
    /// end's term in the form that does not cancel, as in `logDensity`).
    static func width(_ f: Frame, _ it: BetaItem, _ piece: Piece, u: Double) -> Double {
        let s = Logistic(u)
        let n = piece.delta * s.s1 * s.s0
        // d/du of (a − 1)·log(aGap + Δσ(u)) + log σ(u), and its second derivative.
        let (dl, ddl): (Double, Double)
        if f.aGap == 0 {
            (dl, ddl) = (it.a * s.s0, -it.a * s.s1 * s.s0)
        } else {
            let d = f.aGap + piece.delta * s.s1
            (dl, ddl) = ((it.a - 1) * n / d + s.s0, (it.a - 1) * n * ((s.s0 - s.s1) * d - n) / (d * d) - s.s1 * s.s0)
        }
        // Likewise (b − 1)·log(bGap + Δσ(−u)) + log σ(−u).
        let (dr, ddr): (Double, Double)
        if f.bGap == 0 {
            (dr, ddr) = (-it.b * s.s1, -it.b * s.s1 * s.s0)
        } else {
            let e = f.bGap + piece.delta * s.s0
            (dr, ddr) = (-(it.b - 1) * n / e - s.s1, -(it.b - 1) * n * ((s.s0 - s.s1) * e + n) / (e * e) - s.s1 * s.s0)
        }
        return min(slopeWidth / abs(dl + dr), curvatureWidth / abs(ddl + ddr).squareRoot())
    }

    /// The pieces between consecutive support ends, each with the items that have mass in it and
    /// the u-range that holds all but 1e-15 of each one's mass there.
    static func pieces(_ items: [BetaItem]) -> [Piece] {
        let ends = Array(Set(items.flatMap { [$0.lo, $0.hi] })).sorted()
        var out = [Piece]()
        for i in 0..<(ends.count - 1) {
            var piece = Piece(ends[i], ends[i + 1])
            for (j, it) in items.enumerated() where it.lo <= piece.c && piece.end <= it.hi {
                let aGap = piece.c - it.lo
                let bGap = it.hi - piece.end
                let loPoint = it.quantile(1e-15)
                let hiPoint = it.quantile(1 - 1e-15)
                // The truncation points, where in this piece; or the tail beyond a piece end inside
                // the support, where the density is finite and the mass within σ(u)·Δ is tiny.
                func tailCut(lower: Bool) -> Double {
                    let x = lower ? piece.c : piece.end
                    let ld =
                        (it.a - 1) * log((x - it.lo) / exp(it.logScale)) + (it.b - 1)
                        * log((it.hi - x) / exp(it.logScale)) + it.logNorm
                    let cut = log(1e-17) - ld - piece.logDelta
                    return lower ? min(cut, -1) : max(-cut, 1)
                }
                var cutLo: Double
                if let u = piece.u(of: loPoint, item: it) {
                    cutLo = u
                } else if aGap > 0 && exp(loPoint.logDistance) <= aGap {
                    cutLo = tailCut(lower: true)
                } else {
                    continue  // its mass starts beyond this piece
                }
                let cutHi: Double
                if let u = piece.u(of: hiPoint, item: it) {
                    cutHi = u
                } else if bGap > 0 && exp(hiPoint.logDistance) <= bGap {
                    cutHi = tailCut(lower: false)
                } else {
                    continue  // its mass ends before this piece
                }
                var uFloor = -Double.infinity
                if it.floor >= piece.end {
                    continue  // the whole piece is below the floor: no density here
                } else if it.floor > piece.c {
                    uFloor = piece.u(ofScore: it.floor)!
                    cutLo = max(cutLo, uFloor)
                }
                guard cutLo < cutHi else { continue }
                piece.frames.append(Frame(j: j, aGap: aGap, bGap: bGap, uFloor: uFloor, cutLo: cutLo, cutHi: cutHi))
                piece.uLo = min(piece.uLo, cutLo)
                piece.uHi = max(piece.uHi, cutHi)
            }
            if !piece.frames.isEmpty { out.append(piece) }
        }
        return out
    }

    /// The points every panel boundary of a piece must include: its range, u = 0, every item's
    /// truncation points and floor.
    static func fixedPoints(_ piece: Piece) -> [Double] {
        var fixed = [piece.uLo, piece.uHi]
        if piece.uLo < 0 && 0 < piece.uHi { fixed.append(0) }
        for f in piece.frames {
            fixed += [f.cutLo, f.cutHi]
            if f.uFloor > -.infinity { fixed.append(f.uFloor) }
        }
        return Array(Set(fixed.filter { $0.isFinite && $0 >= piece.uLo && $0 <= piece.uHi })).sorted()
    }

    /// The panel width at u: every active item's local scale (`width`), half the distance to the
    /// piece's centre, and the order statistics' scale. The rank integrands hold Π Gⱼ (the others
    /// below), whose log-slope is the reverse-hazard sum Σ fⱼ/Gⱼ: with many similar items the top
    /// ranks are far narrower than any one item (100 items of Beta(1, 30), k = 10: columns summed
    /// to 1 within 6e-7 on the items' scales alone, 5e-14 with this). Where at most k − 1 items being
    /// above u has probability below 1e-30 the integrands are negligible and this limit is not
    /// applied (in the far left tails the reverse hazards add up to Σ aⱼ).
    static func logisticPanelWidth(
        at u: Double, _ piece: Piece, _ items: [BetaItem], g: [Double], k: Int, scratch: inout [Double]
    ) -> Double {
        var w = max(1, abs(u) / 2)
        let s = Logistic(u)
        var hazard = 0.0
        for f in piece.frames where f.cutLo <= u && u < f.cutHi {
            w = min(w, width(f, items[f.j], piece, u: u))
            let density = exp(logDensity(f, items[f.j], piece, s, u: u))
            // Below 1e-12 a carried CDF is mostly its rounding (absolute error ~1e-17), and the
            // other items' integrands carry it as a factor: negligible there.
            if density > 0 && g[f.j] > 1e-12 { hazard += density / g[f.j] }
        }
        guard hazard > 0 else { return w }
        // P(at most k − 1 items above u): the truncated Poisson-binomial over every item.
        for r in 0..<k { scratch[r] = r == 0 ? 1 : 0 }
        for j in g.indices {
            let above = min(1, max(0, 1 - g[j]))
            if above == 0 { continue }
            for r in stride(from: k - 1, through: 1, by: -1) {
                scratch[r] = scratch[r] * (1 - above) + scratch[r - 1] * above
            }
            scratch[0] *= 1 - above
        }
        var atMost = 0.0
        for r in 0..<k { atMost += scratch[r] }
        // A width that cannot move u (|u| ≫ 1) would make the walk jump to the next fixed point.
        let floor = 1e-9 * max(1, abs(u))
        return max(floor, atMost < 1e-30 ? w : min(w, slopeWidth / hazard))
    }

    /// Exact marginals of Beta-based scores (see the extension's comment).
    static func computeBeta(_ items: [BetaItem], _ distributions: [ScoreDistribution], k: Int) throws(RecOPEError)
        -> RankMarginals
    {
        let n = items.count
        let m = rule.nodes.count
        let pieces = pieces(items)
        var work = 0.0
        var acc = RankTerms(n: n, k: k)
        var g = [Double](repeating: 0, count: n)
        var f = [Double](repeating: 0, count: n * m)
        var gNode = f
        var error = 0.0
        var scratch = [Double](repeating: 0, count: k)
        for piece in pieces {
            // Exact CDFs at the piece's start; an item without mass in the piece is done (1) or not
            // begun (0) within 1e-15.
            for j in 0..<n { g[j] = distributions[j].cdf(piece.c) < 0.5 ? 0 : 1 }
            for fr in piece.frames { g[fr.j] = cdf(fr, items[fr.j], piece, u: piece.uLo) }
            // Floors at the piece's start (in the CDFs already), tied ones together.
            var startAtoms = [Double: [(item: Int, mass: Double)]]()
            for fr in piece.frames where fr.uFloor == piece.uLo {
                startAtoms[items[fr.j].floor, default: []].append((fr.j, items[fr.j].atom))
            }
            for j in 0..<n where items[j].floor > -.infinity && items[j].floor == piece.c {
                startAtoms[piece.c, default: []].append((j, items[j].atom))
            }
            for x in startAtoms.keys.sorted() { acc.addAtoms(startAtoms[x]!, g: g) }
            // Each panel's width is chosen at its left end, from the CDFs carried there.
            func integrate(_ a: Double, _ b: Double) {
                let half = 0.5 * (b - a)
                guard half > 0 else { return }
                let mid = 0.5 * (a + b)
                for j in 0..<n {
                    for t in 0..<m { f[j * m + t] = 0 }
                }
                var any = false
                for t in 0..<m {
                    let u = mid + half * rule.nodes[t]
                    let s = Logistic(u)
                    for fr in piece.frames where fr.cutLo < b && a < fr.cutHi {
                        let v = exp(logDensity(fr, items[fr.j], piece, s, u: u))
                        if v > 0 && v.isFinite {
                            f[fr.j * m + t] = v
                            any = true
                        }
                    }
                }
                for j in 0..<n { carryCDF(item: j, f: f, g: &g, gNode: &gNode, half: half) }
                if any {
                    for t in 0..<m { acc.add(node: t, m: m, weight: half * rule.weights[t], f: f, gNode: gNode) }
                }
                var atoms = [(item: Int, mass: Double)]()
                for fr in piece.frames where fr.uFloor == b {
                    g[fr.j] += items[fr.j].atom
                    atoms.append((fr.j, items[fr.j].atom))
                }
                if !atoms.isEmpty { acc.addAtoms(atoms, g: g) }
            }
            let m = rule.nodes.count
            _ = try walk(
                fixedPoints(piece), panelWork: Double(m) * Double(piece.frames.count) * Double(k * k + m),
                work: &work, width: { u in logisticPanelWidth(at: u, piece, items, g: g, k: k, scratch: &scratch) },
                tooMuch: { panels in
                    .invalidParameter(
                        "exact marginals: the item scores need more than \(panels) quadrature panels "
                            + "(\(items.count) items, k=\(k)), beyond the exact method's range; --method mc works")
                }, visit: integrate)
            // The error estimate: carried against exact CDFs at the piece's end.
            for fr in piece.frames {
                error = max(error, abs(g[fr.j] - cdf(fr, items[fr.j], piece, u: piece.uHi)))
            }
        }
        for r in 0..<k {
            var sum = 0.0
            for i in 0..<n { sum += acc.result[i * k + r] }
            error = max(error, abs(sum - 1))
        }
        guard error <= tolerance else {
            throw .unsupported(
                "exact marginals: the quadrature's error estimate \(cFormat("%.2g", error)) exceeds "
                    + "\(tolerance) for these Beta shapes (\(n) items, k=\(k)); --method mc works")
        }
        return RankMarginals(items: n, k: k, probabilities: acc.result, errorEstimate: error)
    }
}
