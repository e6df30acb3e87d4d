/// The textbook Cholesky solve (`A = Uᵀ U` from the upper triangle, row-major, then `Uᵀ y = b`,
/// `U x = y`): the reference whose every operation, in its order, `LinearAlgebra`'s blocked
/// solve must repeat. nil when a pivot is not positive.
public func choleskySolveReference(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
    var u = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in i..<n {
            var s = a[i * n + j]
            for p in 0..<i { s -= u[p * n + i] * u[p * n + j] }
            if i == j {
                guard s > 0 else { return nil }
                u[i * n + i] = s.squareRoot()
            } else {
                u[i * n + j] = s / u[i * n + i]
            }
        }
    }
    var x = b
    for i in 0..<n {
        var s = x[i]
        for p in 0..<i { s -= u[p * n + i] * x[p] }
        x[i] = s / u[i * n + i]
    }
    for i in stride(from: n - 1, through: 0, by: -1) {
        var s = x[i]
        for p in (i + 1)..<n { s -= u[i * n + p] * x[p] }
        x[i] = s / u[i * n + i]
    }
    return x
}
