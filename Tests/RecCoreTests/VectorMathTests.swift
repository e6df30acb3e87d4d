import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct VectorMathTests {
    typealias V = SIMD16<Float>

    /// Applies a vector function to many values, 16 at a time.
    func apply(_ xs: [Float], _ f: (V) -> V) -> [Float] {
        var out = [Float]()
        var i = 0
        while i < xs.count {
            var v = V(repeating: 1)
            for l in 0..<16 where i + l < xs.count { v[l] = xs[i + l] }
            let y = f(v)
            for l in 0..<16 where i + l < xs.count { out.append(y[l]) }
            i += 16
        }
        return out
    }

    @Test(arguments: ["exp", "expFused"]) func expMatchesDouble(_ name: String) {
        let f: (VectorMath.V) -> VectorMath.V = { x in name == "exp" ? VectorMath.exp(x) : VectorMath.expFused(x) }
        let xs = stride(from: -87.0, through: 88.0, by: 0.0137).map { Float($0) }
        #expect(closeness(apply(xs, f), xs.map { Foundation.exp(Double($0)) }, atol: 0, rtol: 3e-7) == nil)
        let special = apply([-100, 100, .nan, -.infinity, .infinity, 0], f)
        #expect(
            special[0] == 0 && special[1] == .infinity && special[2].isNaN && special[3] == 0 && special[4] == .infinity
                && special[5] == 1)
    }

    /// expFusedNonPositive equals expFused bit for bit on non-positive inputs: a dense sweep of
    /// [-100, 0], the underflow boundary's neighbours, -0 and -inf; NaN gives NaN.
    @Test func expFusedNonPositiveMatchesExpFused() {
        var xs = (0...200_000).map { -Float($0) * 0.0005 }
        let lo: Float = -87.33654
        xs += [lo, lo.nextUp, lo.nextDown, -0.0, -.infinity, -.leastNonzeroMagnitude, -1e-30]
        var i = 0
        while i < xs.count {
            var v = VectorMath.V(repeating: 0)
            for l in 0..<16 where i + l < xs.count { v[l] = xs[i + l] }
            let a = VectorMath.expFusedNonPositive(v)
            let b = VectorMath.expFused(v)
            for l in 0..<16 where i + l < xs.count {
                #expect(a[l].bitPattern == b[l].bitPattern, "x = \(xs[i + l])")
            }
            i += 16
        }
        #expect(VectorMath.expFusedNonPositive(VectorMath.V(repeating: .nan)).min().isNaN)
    }

    /// `VectorMath.any` against a loop over the lanes, for every 8-lane mask and for every
    /// 16-lane mask with 0, 1, 2 or 16 lanes set.
    @Test func anyMatchesLaneLoop() {
        for bits in 0..<256 {
            var m = SIMDMask<SIMD8<Int32>>(repeating: false)
            for l in 0..<8 { m[l] = bits & (1 << l) != 0 }
            #expect(VectorMath.any(m) == (bits != 0), "8 lanes, bits \(bits)")
        }
        var patterns: [[Int]] = [[], Array(0..<16)]
        for a in 0..<16 {
            patterns.append([a])
            for b in (a + 1)..<16 { patterns.append([a, b]) }
        }
        for lanes in patterns {
            var m = SIMDMask<SIMD16<Int32>>(repeating: false)
            for l in lanes { m[l] = true }
            #expect(VectorMath.any(m) == !lanes.isEmpty, "16 lanes, set \(lanes)")
            let v = SIMD16<UInt32>((0..<16).map { lanes.contains($0) ? UInt32(1) << UInt32($0) : 0 })
            #expect(VectorMath.anyLane(v) == !lanes.isEmpty)
        }
    }

    @Test func logMatchesDouble() {
        var xs = stride(from: -30.0, through: 30.0, by: 0.011).map { Float(Foundation.exp($0)) }
        xs += stride(from: 0.5, through: 2.0, by: 0.0003).map { Float($0) }
        xs += [Float.leastNormalMagnitude, Float.greatestFiniteMagnitude, 1]
        #expect(
            closeness(apply(xs, VectorMath.log), xs.map { Foundation.log(Double($0)) }, atol: 1e-7, rtol: 3e-7) == nil)
        let special = apply([0, -1, .nan, .infinity], VectorMath.log)
        #expect(special[0] == -.infinity && special[1].isNaN && special[2].isNaN && special[3] == .infinity)
    }

    @Test func sinCosMatchesDouble() {
        let us = stride(from: 0.0, through: 1.0, by: 0.00037).map { Float($0) }
        let out = apply(us) { VectorMath.sinCos2Pi($0).cos }
        let outS = apply(us) { VectorMath.sinCos2Pi($0).sin }
        #expect(closeness(out, us.map { Foundation.cos(2 * Double.pi * Double($0)) }, atol: 4e-7, rtol: 0) == nil)
        #expect(closeness(outS, us.map { Foundation.sin(2 * Double.pi * Double($0)) }, atol: 4e-7, rtol: 0) == nil)
    }

    /// The fused transforms of the lane-wise rank sampler against Double, and the primitives
    /// against Swift's own lane-by-lane operations.
    @Test func fusedTransformsAndPrimitivesMatch() {
        let xs =
            stride(from: 1e-7, through: 1.0, by: 0.000091).map { Float($0) } + [1e-30, 3.5, 1e6, 0x1p-23, 1 - 0x1p-24]
        #expect(
            closeness(apply(xs, VectorMath.logPositive), xs.map { Foundation.log(Double($0)) }, atol: 1e-7, rtol: 3e-7)
                == nil)
        let us = stride(from: 0.0, through: 1.0, by: 0.00037).map { Float($0) }
        let c = apply(us) { VectorMath.sinCos2PiFused($0).cos }
        let s = apply(us) { VectorMath.sinCos2PiFused($0).sin }
        #expect(closeness(c, us.map { Foundation.cos(2 * Double.pi * Double($0)) }, atol: 4e-7, rtol: 0) == nil)
        #expect(closeness(s, us.map { Foundation.sin(2 * Double.pi * Double($0)) }, atol: 4e-7, rtol: 0) == nil)
        // Correctly rounded square root, one-rounding fma, selects, abs and mask bits: bit for bit.
        var g = Xoshiro256(seed: 4)
        for _ in 0..<200 {
            var a = V()
            var b = V()
            var d = V()
            for l in 0..<16 {
                a[l] = Float(Sampling.normal(&g) * 100)
                b[l] = Float(Sampling.normal(&g))
                d[l] = Float(Sampling.normal(&g) * 10)
            }
            let r = VectorMath.sqrtExact(VectorMath.abs(a))
            let f = VectorMath.fma(a, b, d)
            let m = a .> d
            let sel = VectorMath.select(m, a, else: b)
            let bits = VectorMath.laneBits(m)
            for l in 0..<16 {
                #expect(r[l] == Swift.abs(a[l]).squareRoot())
                let fused = BuildTarget.compiled.contains(.fma)
                #expect(f[l] == (fused ? d[l].addingProduct(a[l], b[l]) : a[l] * b[l] + d[l]))
                #expect(sel[l] == (a[l] > d[l] ? a[l] : b[l]))
                #expect((bits >> l) & 1 == (a[l] > d[l] ? 1 : 0))
            }
        }
        #expect(VectorMath.abs(V(repeating: -0.0))[0].sign == .plus)
    }

    @Test func sqrtErfTanhMatchDouble() {
        let xs = stride(from: 0.0, through: 50.0, by: 0.0071).map { Float($0) } + [1e-30, 1e30, 0]
        #expect(closeness(apply(xs, VectorMath.sqrt), xs.map { Double($0).squareRoot() }, atol: 0, rtol: 2.5e-7) == nil)
        let zs = stride(from: -6.0, through: 6.0, by: 0.0013).map { Float($0) }
        #expect(closeness(apply(zs, VectorMath.erf), zs.map { Foundation.erf(Double($0)) }, atol: 5e-7, rtol: 0) == nil)
        #expect(
            closeness(apply(zs, VectorMath.tanh), zs.map { Foundation.tanh(Double($0)) }, atol: 5e-7, rtol: 0) == nil)
    }
}
