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
}
