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

/// Layer normalisation over the last dimension with learned scale and shift (PyTorch LayerNorm).
public final class LayerNorm: Module {
    /// The gain γ (`NAME.weight`, 1-D in checkpoints).
    public let gamma: Parameter
    /// The shift β (`NAME.bias`).
    public let beta: Parameter
    /// Added to the variance before the square root.
    public let eps: Float
    /// The gain, then the shift.
    public var parameters: [Parameter] { [gamma, beta] }

    /// Layer normalisation over `features` with γ = 1 and β = 0.
    public init(name: String, features: Int, eps: Float = 1e-5) {
        gamma = Parameter(name: name + ".weight", value: Matrix(rows: 1, cols: features, repeating: 1), vector: true)
        beta = Parameter(name: name + ".bias", value: Matrix.zeros(1, features), vector: true)
        self.eps = eps
    }

    /// What `backward` needs from `forward`.
    public struct Cache {
        /// The normalised input (x − mean)/σ.
        public let xhat: Matrix
        /// 1/σ per row.
        public let rstd: [Float]
    }

    /// y = γ·(x − mean)/√(var + eps) + β per row, and what `backward` needs.
    public func forward(_ x: Matrix) -> (y: Matrix, cache: Cache) {
        let d = gamma.value.cols
        precondition(x.cols == d, "LayerNorm.forward: input is \(x.shapeDescription), features \(d)")
        var rstd = [Float](repeating: 0, count: x.rows)
        let xhat = Matrix(
            rows: x.rows, cols: d,
            unsafeUninitialized: { xp in
                x.withUnsafeBufferPointer { src in
                    for r in 0..<x.rows {
                        let row = UnsafeMutableBufferPointer(rebasing: xp[(r * d)..<((r + 1) * d)])
                        rstd[r] =
                            Kernels.layerNorm(
                                UnsafeBufferPointer(rebasing: src[(r * d)..<((r + 1) * d)]), gamma: nil, beta: nil,
                                eps: eps, into: row
                            ).rstd
                    }
                }
            })
        let y = Matrix(
            rows: x.rows, cols: d,
            unsafeUninitialized: { yp in
                xhat.withUnsafeBufferPointer { xh in
                    gamma.value.withUnsafeBufferPointer { g in
                        beta.value.withUnsafeBufferPointer { b in
                            for r in 0..<x.rows {
                                Kernels.affineRow(
                                    xh.baseAddress! + r * d, g.baseAddress!, b.baseAddress!,
                                    into: yp.baseAddress! + r * d, count: d)
                            }
                        }
                    }
                }
            })
        return (y, Cache(xhat: xhat, rstd: rstd))
    }

    /// dγ += Σ dy·x̂, dβ += Σ dy; dx = r/d · (d·g − Σg − x̂·Σ(g·x̂)) with g = dy·γ.
    @discardableResult
    public func backward(_ cache: Cache, _ dy: Matrix) -> Matrix {
        let d = gamma.value.cols
        let n = dy.rows
        var dx = Matrix(rows: n, cols: d)
        gamma.grad.withUnsafeMutableBufferPointer { gg in
            beta.grad.withUnsafeMutableBufferPointer { bg in
                gamma.value.withUnsafeBufferPointer { g in
                    cache.xhat.withUnsafeBufferPointer { xh in
                        dy.withUnsafeBufferPointer { dyp in
                            dx.withUnsafeMutableBufferPointer { dxp in
                                for r in 0..<n {
                                    Kernels.layerNormBackwardRow(
                                        dyp.baseAddress! + r * d, xh.baseAddress! + r * d, g.baseAddress!,
                                        rstd: cache.rstd[r],
                                        dx: dxp.baseAddress! + r * d, dGamma: gg.baseAddress!, dBeta: bg.baseAddress!,
                                        count: d)
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}
