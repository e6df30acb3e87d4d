import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `y = x Wᵀ + b` with W out×in (PyTorch layout).
public final class Linear: Module {
    /// The weights, out × in (PyTorch's layout).
    public let weight: Parameter
    /// The bias, out (nil for a layer without one).
    public let bias: Parameter?
    /// Input features.
    public var inFeatures: Int { weight.value.cols }
    /// Output features.
    public var outFeatures: Int { weight.value.rows }
    /// The weight, then the bias.
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// y = x Wᵀ + b with `NAME.weight` and `NAME.bias`, initialised as `initialization` says (seeded).
    public init(
        name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true,
        initialization: Initialization = .pytorchDefault, seed: UInt64
    ) {
        let bound = 1 / Float(inFeatures).squareRoot()
        switch initialization {
        case .pytorchDefault:
            weight = Parameter(
                name: name + ".weight",
                value: Matrix.random(
                    outFeatures, inFeatures, seed: seed, distribution: .uniform(low: -bound, high: bound)))
            self.bias =
                bias
                ? Parameter(
                    name: name + ".bias",
                    value: Matrix.random(
                        1, outFeatures, seed: seed &+ 1, distribution: .uniform(low: -bound, high: bound)),
                    vector: true) : nil
        case .normal(let std):
            weight = Parameter(
                name: name + ".weight",
                value: Matrix.random(outFeatures, inFeatures, seed: seed, distribution: .normal(mean: 0, std: std)))
            self.bias = bias ? Parameter(name: name + ".bias", value: Matrix.zeros(1, outFeatures), vector: true) : nil
        case .xavierUniform:
            let g = (6 / Float(inFeatures + outFeatures)).squareRoot()
            weight = Parameter(
                name: name + ".weight",
                value: Matrix.random(outFeatures, inFeatures, seed: seed, distribution: .uniform(low: -g, high: g)))
            self.bias = bias ? Parameter(name: name + ".bias", value: Matrix.zeros(1, outFeatures), vector: true) : nil
        }
    }

    /// x: n×in → n×out.
    /// - Complexity: 2·n·in·out FLOPs.
    public func forward(_ x: Matrix) -> Matrix {
        precondition(
            x.cols == inFeatures,
            "Linear.forward: input is \(x.shapeDescription), weight is \(weight.value.shapeDescription)")
        guard let b = bias else { return matmul(x, weight.value, transposeB: .transpose) }
        // y = bias rows, then y += x Wᵀ (β = 1); the bias copy fills every element.
        let o = outFeatures
        var y = Matrix(
            rows: x.rows, cols: o,
            unsafeUninitialized: { yp in
                b.value.withUnsafeBufferPointer { bp in
                    for r in 0..<x.rows { (yp.baseAddress! + r * o).update(from: bp.baseAddress!, count: o) }
                }
            })
        gemm(x, weight.value, into: &y, transposeB: .transpose, beta: 1)
        return y
    }

    /// Accumulates dW += dyᵀx and db += Σ dy; returns dx = dy W.
    /// - Complexity: 4·n·in·out FLOPs.
    @discardableResult
    public func backward(_ x: Matrix, _ dy: Matrix) -> Matrix {
        precondition(
            dy.rows == x.rows && dy.cols == outFeatures,
            "Linear.backward: dy is \(dy.shapeDescription), expected \(x.rows)×\(outFeatures)")
        accumulateParameterGradients(x, dy)
        return matmul(dy, weight.value)
    }

    /// dW += dyᵀx and db += Σ dy.
    private func accumulateParameterGradients(_ x: Matrix, _ dy: Matrix) {
        gemm(dy, x, into: &weight.grad, transposeA: .transpose, beta: 1)
        if let b = bias {
            let o = outFeatures
            b.grad.withUnsafeMutableBufferPointer { g in
                dy.withUnsafeBufferPointer { d in
                    for r in 0..<dy.rows { Kernels.addRow(d.baseAddress! + r * o, into: g.baseAddress!, count: o) }
                }
            }
        }
    }

    /// As `backward`, but adds dx = dy W into `dx` (one GEMM with β = 1, no new matrix).
    public func backward(_ x: Matrix, _ dy: Matrix, accumulatingInto dx: inout Matrix) {
        precondition(
            dy.rows == x.rows && dy.cols == outFeatures && dx.rows == x.rows && dx.cols == inFeatures,
            "Linear.backward: dy is \(dy.shapeDescription), dx is \(dx.shapeDescription), expected \(x.rows)×\(outFeatures) and \(x.rows)×\(inFeatures)"
        )
        accumulateParameterGradients(x, dy)
        gemm(dy, weight.value, into: &dx, beta: 1)
    }
}
