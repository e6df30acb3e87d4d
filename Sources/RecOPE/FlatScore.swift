import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A score distribution flattened for fast evaluation: `Y = max(scale·X + shift, floor)` with X a
/// Beta(a, b) or a standard Gumbel at `mu` (no indirect enum, no reference counting in the loop).
struct FlatScore {
    let isBeta: Bool
    let a: Double, b: Double  // Beta shapes
    let mu: Double  // Gumbel location
    let scale: Double, shift: Double
    let floor: Double  // −inf when there is none

    init(_ d: ScoreDistribution) {
        var scale = 1.0
        var shift = 0.0
        var floor = -Double.infinity
        var base = d
        // Peel transforms from the outside in: affine(s, t) maps a floor m to s·m + t.
        var transforms = [(Double, Double)]()
        var floors = [(Double, Int)]()  // floor value and how many affines were outside it
        while true {
            switch base {
            case .affine(let inner, let s, let t):
                transforms.append((s, t))
                base = inner
                continue
            case .floored(let inner, let m):
                floors.append((m, transforms.count))
                base = inner
                continue
            default: break
            }
            break
        }
        for (s, t) in transforms.reversed() {
            scale *= s
            shift = s * shift + t
        }
        for (m, outer) in floors {
            // Map the floor through the affines that were outside it.
            var v = m
            for (s, t) in transforms.prefix(outer).reversed() { v = s * v + t }
            floor = max(floor, v)
        }
        self.scale = scale
        self.shift = shift
        self.floor = floor
        switch base {
        case .beta(let a, let b):
            isBeta = true
            self.a = a
            self.b = b
            mu = 0
        case .gumbel(let m):
            isBeta = false
            a = 0
            b = 0
            mu = m
        default: fatalError("unreachable")
        }
    }

    /// Density of the continuous part at y of a Gumbel-based score (Beta-based scores are
    /// integrated in logistic coordinates, `ExactRankMarginals.BetaItem`).
    @inline(__always) func pdf(_ y: Double) -> Double {
        if y <= floor { return 0 }
        let z = (y - shift) / scale - mu
        return exp(-z - exp(-z)) / scale
    }
}
