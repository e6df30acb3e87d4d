#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension OffPolicyState {
    /// Grouping `g`'s groups for policy p, in a fixed order (shorter keys first, then by bytes),
    /// with the layout of their sums; nil when its pass has not run, or for a context grouping
    /// with no groups or more than 64.
    func groups(policy p: Int, grouping g: PieceGrouping, plan: EstimatorPlan) -> (
        blocks: [SumBlock], layout: TermLayout
    )? {
        guard let sums = policies[p][g.pass], let layout = plan.passes[g.pass.rawValue],
            let i = layout.groupIndex(g)
        else { return nil }
        let blocks = sums.groups[i].ordered.map(\.block)
        if case .contextFeature = g, blocks.isEmpty || blocks.count > 64 { return nil }
        return (blocks, layout.grouped[i])
    }

    /// Where an estimator's sums are, once per report: read `view(replicate:)` for the point sums or
    /// a replicate's.
    struct UnitLocator {
        let unit: any EstimatorUnit
        let ratio: TermSums
        let all: TermSums
        let groups: [TermSums]

        func view(replicate b: Int?) -> UnitSums {
            func at(_ t: TermSums) -> TermSums { TermSums(block: t.block, layout: t.layout, replicate: b) }
            return UnitSums(n: at(ratio)[.one], all: at(all), groups: groups.map(at), point: all)
        }
    }

    /// The estimators the report shows for policy p, in the plan's order: those whose pass ran
    /// and, with a grouping, whose groups are usable.
    func locators(policy p: Int, plan: EstimatorPlan) -> [UnitLocator] {
        guard let ratio = policies[p][.ratios], let ratioLayout = plan.passes[0] else { return [] }
        let r = TermSums(block: ratio.all, layout: ratioLayout.all, replicate: nil)
        return plan.units.compactMap { u in
            guard let sums = policies[p][u.pass], let layout = plan.passes[u.pass.rawValue] else { return nil }
            var groups = [TermSums]()
            if let g = u.grouping {
                guard let (blocks, l) = self.groups(policy: p, grouping: g, plan: plan) else { return nil }
                groups = blocks.map { TermSums(block: $0, layout: l, replicate: nil) }
            }
            return UnitLocator(
                unit: u, ratio: r, all: TermSums(block: sums.all, layout: layout.all, replicate: nil), groups: groups)
        }
    }
}
