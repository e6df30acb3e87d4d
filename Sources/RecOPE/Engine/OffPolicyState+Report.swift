#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Reads sums either as the point (all rows once) or as one bootstrap replicate.
struct SumView {
    /// nil: the point sums; else the replicate.
    let replicate: Int?

    @inline(__always)
    func callAsFunction(_ block: SumBlock, _ f: Int) -> Double {
        guard let b = replicate else { return block.sum(f) }
        return block.replicates!.value(replicate: b, feature: f)
    }
}

extension OffPolicyState {
    /// A piece grouping's pieces: the groups in a fixed order, nil if the grouping was skipped.
    func pieceGroups(policy p: Int) -> [(grouping: PieceGrouping, groups: [SumBlock]?)] {
        var ratioIndex = 0
        var valueIndex = 0
        return settings.pieceGroupings.map { g in
            if g.isValueModel {
                defer { valueIndex += 1 }
                let v = policies[p].valuePieces
                return (g, valueIndex < v.count && policies[p].model != nil ? v[valueIndex].ordered.map(\.block) : nil)
            }
            defer { ratioIndex += 1 }
            let groups = policies[p].pieces[ratioIndex].ordered.map(\.block)
            if case .contextFeature = g, groups.isEmpty || groups.count > 64 { return (g, nil) }
            return (g, groups)
        }
    }

    /// Estimator values of policy p from sums (point or replicate), in report order:
    /// IS, CIS×caps, NCIS×caps, SNIPS, pieceNCIS per grouping × caps, pointNCIS×caps,
    /// DM, DR, SwitchDR (ctr), DM, DR (logistic). Absent estimators are left out.
    func values(policy p: Int, _ s: SumView) -> [Double] {
        let P = policies[p]
        let C = settings.caps.count
        let R = P.ratio
        let n = s(R, 0)
        var v = [s(R, 1) / n]
        v += (0..<C).map { s(R, 3 + 3 * $0) / n }
        v += (0..<C).map { s(R, 3 + 3 * $0) / s(R, 4 + 3 * $0) }
        v.append(s(R, 1) / s(R, 2))
        for (_, groups) in pieceGroups(policy: p) {
            guard let groups else { continue }
            for ci in 0..<C {
                var piece = 0.0
                for g in groups {
                    let ng = s(g, 0)
                    let sb = s(g, 2 + 2 * ci)
                    if ng > 0 && sb > 0 { piece += ng / n * s(g, 1 + 2 * ci) / sb }
                }
                v.append(piece)
            }
        }
        if settings.logging != 0 { v += (0..<C).map { s(R, 5 + 3 * $0) / n } }
        if let m = P.model { v += [s(m, 1) / n, s(m, 2) / n, s(m, 3) / n] }
        if let l = P.logistic { v += [s(l, 1) / n, s(l, 2) / n] }
        return v
    }

    /// Normal intervals' standard errors, in the order of `values`.
    func standardErrors(policy p: Int, point v: [Double]) -> [Double] {
        let P = policies[p]
        let C = settings.caps.count
        let R = P.ratio
        let n = R.sum(0)
        var out = [meanSE(R, 1, pair: 0)]
        out += (0..<C).map { meanSE(R, 3 + 3 * $0, pair: 3 + 4 * $0) }
        out += (0..<C).map {
            ratioVariance(R, a: 3 + 3 * $0, b: 4 + 3 * $0, pairs: 3 + 4 * $0, value: v[1 + C + $0]).squareRoot()
        }
        out.append(ratioVariance(R, a: 1, b: 2, pairs: 0, value: v[1 + 2 * C]).squareRoot())
        for (_, groups) in pieceGroups(policy: p) {
            guard let groups else { continue }
            for ci in 0..<C {
                var variance = 0.0
                for g in groups where g.sum(0) > 0 && g.sum(2 + 2 * ci) > 0 {
                    let share = g.sum(0) / n
                    variance +=
                        share * share
                        * ratioVariance(
                            g, a: 1 + 2 * ci, b: 2 + 2 * ci, pairs: 3 * ci, value: g.sum(1 + 2 * ci) / g.sum(2 + 2 * ci)
                        )
                }
                out.append(variance.squareRoot())
            }
        }
        if settings.logging != 0 { out += (0..<C).map { meanSE(R, 5 + 3 * $0, pair: 6 + 4 * $0) } }
        if let m = P.model { out += [meanSE(m, 1, pair: 0), meanSE(m, 2, pair: 1), meanSE(m, 3, pair: 2)] }
        if let l = P.logistic { out += [meanSE(l, 1, pair: 0), meanSE(l, 2, pair: 1)] }
        return out
    }

    /// The standard error of a mean: √(Σ(x − x̄)² / (n − 1) / n), from Σx and Σx².
    func meanSE(_ b: SumBlock, _ f: Int, pair: Int) -> Double {
        let n = b.sum(0)
        let mean = b.sum(f) / n
        let ss = max(b.product(pair) - n * mean * mean, 0)
        return (ss / max(n - 1, 1) / n).squareRoot()
    }

    /// The delta-method variance of Σa/Σb: Σ(a − v·b)² / (n − 1) / n / (Σb/n)², from the sums of
    /// a², a·b, b² (pairs at `pairs`, `pairs + 1`, `pairs + 2`).
    func ratioVariance(_ blk: SumBlock, a: Int, b: Int, pairs: Int, value v: Double) -> Double {
        let n = blk.sum(0)
        let mb = blk.sum(b) / n
        let ss = max(blk.product(pairs) - 2 * v * blk.product(pairs + 1) + v * v * blk.product(pairs + 2), 0)
        return ss / max(n - 1, 1) / n / (mb * mb)
    }
}
