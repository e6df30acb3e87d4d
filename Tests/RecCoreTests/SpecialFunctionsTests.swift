import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct SpecialFunctionsTests {
    // Reference values from SciPy 1.17 (scipy.special.betainc / gammainc).
    static let betaCases: [(Double, Double, Double, Double)] = [
        (1, 1, 0.3, 0.29999999999999999),
        (2, 5, 0.2, 0.34464000000000022),
        (0.5, 0.5, 0.1, 0.20483276469913345),
        (10, 20, 0.4, 0.7853183897628262),
        (1, 1000, 0.001, 0.63230457522903594),
        (1000, 300000.0, 0.0033, 0.41987820304782192),
        (1000, 300000.0, 0.0036, 0.99517785914427292),
        (10000.0, 1000000.0, 0.0099, 0.49730055897975917),
        (10000.0, 1000000.0, 0.0101, 0.97778754330467255),
        (50, 1000000.0, 4e-05, 0.070374473405176538),
        (3, 300000.0, 1e-05, 0.57681551991848223),
        (0.3, 2000.0, 0.0001, 0.65748561533419703),
    ]

    @Test func incompleteBetaMatchesSciPy() {
        for (a, b, x, ref) in Self.betaCases {
            let v = SpecialFunctions.regularizedIncompleteBeta(a, b, x)
            #expect(abs(v - ref) <= 1e-11 + 1e-9 * ref, "I_\(x)(\(a), \(b)) = \(v), SciPy \(ref)")
        }
        #expect(SpecialFunctions.regularizedIncompleteBeta(2, 3, 0) == 0)
        #expect(SpecialFunctions.regularizedIncompleteBeta(2, 3, 1) == 1)
    }

    @Test func studentTQuantileMatchesSciPy() {
        // scipy.stats.t(nu).ppf(p)
        for (nu, p, ref) in [
            (1.0, 0.975, 12.706204736174694), (2, 0.95, 2.9199855803537242), (5, 0.9, 1.4758840488244815),
            (10, 0.95, 1.8124611228116756), (30, 0.99, 2.457261542400591), (100, 0.9, 1.290074761346516),
            (9999, 0.95, 1.6450060333112988), (1e6, 0.95, 1.6448551507220404), (3, 0.6, 0.2766706623326898),
            // The far tail (t² > ν): ν = 1 is Cauchy, tan(π(p − ½)).
            (1, 0.999, 318.30883898555015), (2, 0.9995, 31.599054576445365), (7, 0.99999, 10.102684252974544),
        ] {
            let t = SpecialFunctions.studentTQuantile(p, degreesOfFreedom: nu)
            #expect(abs(t - ref) <= 1e-10 * ref, "t(\(nu)).ppf(\(p)) = \(t), SciPy \(ref)")
            let lower = SpecialFunctions.studentTQuantile(1 - p, degreesOfFreedom: nu)
            #expect(abs(lower + ref) <= 1e-10 * ref)
        }
        #expect(SpecialFunctions.studentTQuantile(0.5, degreesOfFreedom: 7) == 0)
    }

    @Test func betaQuantileMatchesSciPy() {
        // scipy.special.betaincinv
        for (a, b, u, ref) in [
            (2.0, 5.0, 0.3, 0.18180347131894917), (47, 12198, 1e-12, 0.0011046350866919146),
            (47, 12198, 0.5, 0.0038113213782898126), (1013, 222255, 0.999, 0.0049893441855389355),
            (1e4, 1e6, 0.01, 0.0096732301731772916), (0.5, 0.5, 0.9, 0.97552825814757682),
            (3, 3e5, 1e-6, 6.0847405201930394e-08),
        ] {
            let q = SpecialFunctions.betaQuantile(a, b, u)
            #expect(abs(q - ref) <= 1e-10 * ref, "Q(\(u); \(a), \(b)) = \(q), SciPy \(ref)")
        }
        #expect(SpecialFunctions.betaQuantile(2, 3, 0) == 0 && SpecialFunctions.betaQuantile(2, 3, 1) == 1)
    }

    @Test func incompleteGammaMatchesSciPy() {
        for (a, x, ref) in [
            (0.5, 0.2, 0.47291074313446196), (1, 1, 0.63212055882855767), (3.5, 2, 0.22022259152428406),
            (100, 95, 0.31735681116980008), (1000, 1030, 0.82891190388239389), (0.1, 0.001, 0.52676856839244501),
        ] {
            let v = SpecialFunctions.regularizedLowerGamma(a, x)
            #expect(abs(v - ref) <= 1e-11 + 1e-9 * ref, "P(\(a), \(x)) = \(v), SciPy \(ref)")
        }
    }

    /// The normal quantile inverts Φ(x) = erfc(−x/√2)/2 to 1e-12 over the tails and the middle,
    /// and gives the textbook z values.
    @Test func normalQuantileInvertsTheCDF() {
        for p in [1e-12, 1e-6, 0.001, 0.01, 0.02425, 0.1, 0.3, 0.5, 0.7, 0.975, 0.99, 0.999999] {
            let x = SpecialFunctions.normalQuantile(p)
            let back = 0.5 * Foundation.erfc(-x / 2.0.squareRoot())
            #expect(abs(back - p) <= 1e-12 * max(1, p / (1 - p)) + 1e-15 * p, "p = \(p): Φ(\(x)) = \(back)")
        }
        #expect(abs(SpecialFunctions.normalQuantile(0.975) - 1.959963984540054) < 1e-12)
        #expect(SpecialFunctions.normalQuantile(0.5) == 0)
    }

    /// Gauss–Legendre with m points integrates polynomials of degree < 2m exactly on [−1, 1],
    /// and its integration matrix those of degree < m from −1 to each node.
    @Test func gaussLegendreIsExactForPolynomials() {
        for m in [1, 2, 5, 12] {
            let g = GaussLegendre(points: m)
            for deg in 0..<(2 * m) {
                let q = zip(g.nodes, g.weights).reduce(0.0) { $0 + $1.1 * Foundation.pow($1.0, Double(deg)) }
                let exact = deg % 2 == 1 ? 0 : 2 / Double(deg + 1)
                #expect(abs(q - exact) < 1e-13, "m = \(m), degree \(deg): \(q) vs \(exact)")
            }
            for deg in 0..<m {
                for t in 0..<m {
                    var q = 0.0
                    for s in 0..<m { q += g.integration[t * m + s] * Foundation.pow(g.nodes[s], Double(deg)) }
                    let x = g.nodes[t]
                    let exact =
                        (Foundation.pow(x, Double(deg + 1)) - Foundation.pow(-1, Double(deg + 1))) / Double(deg + 1)
                    #expect(abs(q - exact) < 1e-12, "m = \(m), degree \(deg), node \(t)")
                }
            }
        }
    }
}
