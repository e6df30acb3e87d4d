import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct GammaSqueezeTests {
    /// Whenever a squeeze accepts, the exact Marsaglia–Tsang test (in Double) accepts too; and at
    /// click-rate shapes the series squeeze settles almost every lane.
    @Test func squeezesNeverAcceptWhatTheExactTestRejects() {
        var g = Xoshiro256(seed: 12)
        for a in [1.0, 1.7, 3.0, 10.0, 100.0, 1000.0, 2e5] {
            let d = a - 1.0 / 3.0
            let c = 1 / (9 * d).squareRoot()
            var settled = 0
            var needed = 0
            for _ in 0..<60_000 {
                let x = Float(Sampling.normal(&g) * 1.3)
                let u = Float((Double(UInt32.random(in: 0...UInt32(1 << 23 - 1), using: &g)) + 0.5) * 0x1p-23)
                let (xd, ud) = (Double(x), Double(u))
                let v0 = 1 + c * xd
                let exact =
                    v0 > 0 && Foundation.log(ud) < 0.5 * xd * xd + d * (1 - v0 * v0 * v0 + 3 * Foundation.log(v0))
                let (mt, series) = _GammaSqueezeProbe.accepts(shape: Float(a), x: x, u: u)
                if mt || series {
                    #expect(
                        exact,
                        "a=\(a) x=\(x) u=\(u): squeeze accepted (mt \(mt), series \(series)) but the exact test rejects"
                    )
                }
                if exact && !mt {
                    needed += 1
                    if series { settled += 1 }
                }
            }
            if a >= 100 {
                #expect(Double(settled) >= 0.99 * Double(needed), "a=\(a): series settled \(settled) of \(needed)")
            }
        }
    }

    /// The lane sampler's squeezes (Marsaglia–Tsang's and the series bound u − 1 < −x⁴/(27d)·
    /// (1/4 + 0.2667|t|)) never accept what the exact test in Double rejects, at any shape, and
    /// settle almost every candidate at click-rate shapes; its Float exact test agrees with the
    /// Double one away from the boundary.
    @Test func laneSamplerSqueezesAreSound() {
        var g = Xoshiro256(seed: 13)
        for a in [1.0, 1.3, 2.0, 5.0, 30.0, 300.0, 5000.0, 2e5, 1e7] {
            let d = Double(Float(a) - Float(1.0 / 3.0))
            let c = 1 / (9 * d).squareRoot()
            var squeezed = 0
            var accepted = 0
            var disagree = 0
            let draws = 60_000
            for i in 0..<draws {
                // Normals spread wider than N(0, 1) to reach the tails, and uniforms near 1.
                let x = Float(Sampling.normal(&g) * (i % 3 == 0 ? 2.5 : 1))
                var ud = (Double(UInt32.random(in: 0...UInt32(1 << 23 - 1), using: &g)) + 0.5) * 0x1p-23
                if i % 4 == 0 { ud = 1 - ud * 1e-4 }
                let u = Float(ud)
                let (xd, uf) = (Double(x), Double(u))
                let v0 = 1 + c * xd
                let exact =
                    v0 > 0 && Foundation.log(uf) < 0.5 * xd * xd + d * (1 - v0 * v0 * v0 + 3 * Foundation.log(v0))
                let (squeeze, floatExact) = _GammaSqueezeProbe.laneSampler(shape: Float(a), x: x, u: u)
                if squeeze {
                    squeezed += 1
                    #expect(exact, "a=\(a) x=\(x) u=\(u): the squeeze accepted what the exact test rejects")
                }
                if exact { accepted += 1 }
                if floatExact != exact { disagree += 1 }
            }
            if a >= 300 {
                #expect(
                    Double(squeezed) >= 0.999 * Double(accepted), "a=\(a): squeezes settled \(squeezed) of \(accepted)")
            }
            #expect(Double(disagree) <= 1e-3 * Double(draws), "a=\(a): Float exact test disagrees \(disagree) times")
        }
    }
}
