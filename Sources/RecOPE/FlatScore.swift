import Foundation
import RecCore

/// A score distribution flattened for fast evaluation: `Y = max(scale·X + shift, floor)` with X a
/// Beta(a, b) or a standard Gumbel at `mu` (no indirect enum, no reference counting in the loop).
struct FlatScore {
    let isBeta: Bool
    let a1: Double, b1: Double, logNorm: Double  // Beta: a − 1, b − 1, −log B(a, b)
    let mu: Double  // Gumbel location
    let scale: Double, shift: Double
    let floor: Double  // −inf when there is none
    /// True for an untransformed Beta: its density can use the node-shared logarithms.
    var plainBeta: Bool { isBeta && scale == 1 && shift == 0 && floor == -.infinity }

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
            a1 = a - 1
            b1 = b - 1
            logNorm = -SpecialFunctions.logBeta(a, b)
            mu = 0
        case .gumbel(let m):
            isBeta = false
            a1 = 0
            b1 = 0
            logNorm = 0
            mu = m
        default: fatalError("unreachable")
        }
    }

    /// Density of the continuous part at y; `logX`/`log1mX` are log x and log1p(−x) of y itself
    /// (used only for plain Betas).
    @inline(__always) func pdf(_ y: Double, logY: Double, log1mY: Double) -> Double {
        if y <= floor { return 0 }
        if plainBeta {
            if !(y > 0 && y < 1) { return 0 }
            return exp(a1 * logY + b1 * log1mY + logNorm)
        }
        let x = (y - shift) / scale
        if isBeta {
            if !(x > 0 && x < 1) { return 0 }
            return exp(a1 * log(x) + b1 * log1p(-x) + logNorm) / scale
        }
        let z = x - mu
        return exp(-z - exp(-z)) / scale
    }
}
