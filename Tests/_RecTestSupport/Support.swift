// Naive reference implementations and tolerance helpers for RecKit's tests. Not public API.
import Foundation
import RecCore
import Testing

/// Sizes that straddle the 16-lane vector width (and a large one).
public let sizesAroundVectorWidth = [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000]

/// numpy.testing-style comparison: `|a − r| ≤ atol + rtol·|r|` everywhere.
/// Returns nil when close, otherwise a message with the largest absolute and relative errors.
public func closeness(_ actual: [Float], _ reference: [Double], atol: Double, rtol: Double) -> String? {
    guard actual.count == reference.count else { return "count \(actual.count) != reference count \(reference.count)" }
    var maxAbs = 0.0
    var maxRel = 0.0
    var worst = -1
    var bad = 0
    for i in 0..<actual.count {
        let a = Double(actual[i])
        let r = reference[i]
        if a.isNaN && r.isNaN { continue }
        if a == r { continue }  // covers matching infinities
        let e = abs(a - r)
        if !(e <= atol + rtol * abs(r)) {
            bad += 1
            if worst < 0 { worst = i }
        }
        if e > maxAbs || e.isNaN { maxAbs = e }
        if r != 0 { maxRel = max(maxRel, e / abs(r)) }
    }
    if bad == 0 { return nil }
    return
        "\(bad) of \(actual.count) elements differ (first at \(worst): \(actual[worst]) vs \(reference[worst])); max abs error \(maxAbs), max rel error \(maxRel); atol \(atol), rtol \(rtol)"
}

/// Seeded normal values in Double (the scalar sampler), for building inputs.
public func randomDoubles(_ n: Int, seed: UInt64, scale: Double = 1) -> [Double] {
    var g = Xoshiro256(seed: seed)
    return (0..<n).map { _ in scale * Sampling.normal(&g) }
}

public func randomFloats(_ n: Int, seed: UInt64, scale: Double = 1) -> [Float] {
    randomDoubles(n, seed: seed, scale: scale).map { Float($0) }
}

// MARK: - Naive references (Double accumulation)

/// `op(A)·op(B)` for row-major inputs, in Double.
public func naiveGEMM(
    _ a: [Float], _ ar: Int, _ ac: Int, transA: Bool,
    _ b: [Float], _ br: Int, _ bc: Int, transB: Bool
) -> (m: Int, n: Int, c: [Double]) {
    let m = transA ? ac : ar
    let k = transA ? ar : ac
    let n = transB ? br : bc
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * ac + i] : a[i * ac + p]
                let bv = transB ? b[j * bc + p] : b[p * bc + j]
                s += Double(av) * Double(bv)
            }
            c[i * n + j] = s
        }
    }
    return (m, n, c)
}

public func naiveSoftmax(_ x: [Float]) -> [Double] {
    guard let m = x.map(Double.init).max() else { return [] }
    let e = x.map { Foundation.exp(Double($0) - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}

public func naiveLogSumExp(_ x: [Float]) -> Double {
    guard let m = x.map(Double.init).max() else { return -.infinity }
    return m + Foundation.log(x.map { Foundation.exp(Double($0) - m) }.reduce(0, +))
}

public func naiveLayerNorm(_ x: [Float], gamma: [Float]?, beta: [Float]?, eps: Double) -> [Double] {
    let n = Double(x.count)
    let mean = x.map(Double.init).reduce(0, +) / n
    let v = x.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / n
    let r = 1 / (v + eps).squareRoot()
    return x.indices.map { i in
        (Double(x[i]) - mean) * r * Double(gamma?[i] ?? 1) + Double(beta?[i] ?? 0)
    }
}

public func naiveGELU(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())) }

public func naiveGELUTanh(_ x: Double) -> Double {
    0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
}

/// Full sort of one row by the RecKit order, minus exclusions; first k.
public func naiveTopK(_ scores: [Float], k: Int, excluding: Set<Int> = []) -> [(Int32, Float)] {
    var pairs = [(Int32, Float)]()
    for (i, s) in scores.enumerated() where !excluding.contains(i) { pairs.append((Int32(i), s)) }
    pairs.sort { ranksAbove($0.1, $0.0, $1.1, $1.0) }
    return Array(pairs.prefix(k))
}

// MARK: - Statistics

/// The one-sample Kolmogorov–Smirnov statistic of `samples` against `cdf`.
public func ksStatistic(_ samples: [Double], cdf: (Double) -> Double) -> Double {
    let s = samples.sorted()
    let n = Double(s.count)
    var d = 0.0
    for (i, x) in s.enumerated() {
        let f = cdf(x)
        d = max(d, max(Double(i + 1) / n - f, f - Double(i) / n))
    }
    return d
}

/// The KS critical value at significance 1e-4 (asymptotic: sqrt(−ln(α/2)/2)/sqrt(n)).
/// At a fixed seed a test either passes or fails for good; 1e-4 keeps a correct sampler from
/// failing by bad luck when seeds change, while a sampler off by a few tenths of a standard
/// error per quantile still fails at n = 2e5.
public func ksCritical(n: Int, alpha: Double = 1e-4) -> Double {
    (-Foundation.log(alpha / 2) / 2).squareRoot() / Double(n).squareRoot()
}

/// Mean and unbiased variance.
public func meanVariance(_ x: [Double]) -> (mean: Double, variance: Double) {
    let n = Double(x.count)
    let m = x.reduce(0, +) / n
    let v = x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)
    return (m, v)
}

// MARK: - Finite differences

/// Central finite differences of `f` at `x` with step `h` (in Double).
public func centralDifference(_ x: [Double], h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var t = x
    return x.indices.map { i in
        t[i] = x[i] + h
        let a = f(t)
        t[i] = x[i] - h
        let b = f(t)
        t[i] = x[i]
        return (a - b) / (2 * h)
    }
}

/// True when a Float analytic gradient matches a Double numeric one within `tolerance` relative to
/// the largest numeric component (floored at 1e-3); prints the worst error otherwise.
public func gradientsAgree(_ analytic: [Float], _ numeric: [Double], tolerance: Double = 2e-3, _ note: String = "")
    -> Bool
{
    let scale = max(numeric.map(abs).max() ?? 0, 1e-3)
    let err = zip(analytic, numeric).map { abs(Double($0) - $1) }.max() ?? 0
    if err > tolerance * scale {
        print("\(note): max gradient error \(err), scale \(scale)")
        return false
    }
    return true
}

/// Hostile input, class "a directory where a file is expected": `body` reads the folder `path`
/// and must fail with an error that says "directory" and names the path once.
public func expectDirectoryRefused(_ path: String, _ what: String, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(what): read a directory without an error")
    } catch {
        let text = "\(error)"
        #expect(text.contains("directory"), "\(what): \(text)")
        #expect(text.components(separatedBy: path).count == 2, "\(what): the path should appear once: \(text)")
    }
}
