import RecCore
import Testing
import _RecTestSupport

@Suite struct BLASTests {
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (3, 5, 7), (16, 17, 15), (33, 31, 64), (70, 129, 20), (0, 4, 3), (4, 0, 3), (4, 3, 0),
    ]

    @Test(arguments: [false, true], [false, true])
    func gemmMatchesNaive(transA: Bool, transB: Bool) {
        for (m, n, k) in Self.shapes {
            let (ar, ac) = transA ? (k, m) : (m, k)
            let (br, bc) = transB ? (n, k) : (k, n)
            let a = Matrix(rows: ar, cols: ac, elements: randomFloats(ar * ac, seed: 1))
            let b = Matrix(rows: br, cols: bc, elements: randomFloats(br * bc, seed: 2))
            let c0 = Matrix(rows: m, cols: n, elements: randomFloats(m * n, seed: 3))
            let ref = naiveGEMM(a.storage, ar, ac, transA: transA, b.storage, br, bc, transB: transB)
            // Replace.
            let c = matmul(a, b, transposeA: transA ? .transpose : .none, transposeB: transB ? .transpose : .none)
            #expect(closeness(c.storage, ref.c, atol: 1e-4, rtol: 1e-5) == nil, "m=\(m) n=\(n) k=\(k)")
            // Accumulate with alpha and beta.
            var c2 = c0
            gemm(
                a, b, into: &c2, transposeA: transA ? .transpose : .none, transposeB: transB ? .transpose : .none,
                alpha: 0.5, beta: 2,
                parallelism: .threads(2))
            let ref2 = (0..<(m * n)).map { 0.5 * ref.c[$0] + 2 * Double(c0.storage[$0]) }
            #expect(closeness(c2.storage, ref2, atol: 1e-4, rtol: 1e-5) == nil, "m=\(m) n=\(n) k=\(k) accumulate")
        }
    }

    @Test func gemmBetaZeroIgnoresGarbage() {
        let a = Matrix([[1, 2]])
        let b = Matrix([[3], [4]])
        var c = Matrix([[Float.nan]])
        gemm(a, b, into: &c)
        #expect(c[0, 0] == 11)
    }

    @Test(arguments: [false, true])
    func gemvMatchesNaive(trans: Bool) {
        for (r, c) in [(1, 1), (17, 5), (33, 64), (128, 129)] {
            let a = Matrix(rows: r, cols: c, elements: randomFloats(r * c, seed: 4))
            let xn = trans ? r : c
            let yn = trans ? c : r
            let x = randomFloats(xn, seed: 5)
            var y = randomFloats(yn, seed: 6)
            let y0 = y
            gemv(a, x, into: &y, transpose: trans ? .transpose : .none, alpha: 2, beta: -1)
            let ref = naiveGEMM(a.storage, r, c, transA: trans, x, xn, 1, transB: false).c
            let expect = (0..<yn).map { 2 * ref[$0] - Double(y0[$0]) }
            #expect(closeness(y, expect, atol: 1e-4, rtol: 1e-5) == nil)
        }
    }

    @Test func threadingKnobSetsOpenBLAS() {
        let before = Threading.count
        // The one test that sets the process-wide count: every result in RecKit is the same for
        // any thread count (the tests of each kernel check 1, 2 and 3 threads explicitly), so
        // the tests running beside it see other speeds, never other results. Others may set
        // OpenBLAS's count for their own calls, so retry: a knob that never reaches OpenBLAS
        // fails every time.
        for target in [1, 2] {
            var seen = false
            for _ in 0..<200 {
                Threading.setCount(target)
                if Threading.blasThreadCount == target && Threading.count == target {
                    seen = true
                    break
                }
            }
            #expect(seen, "Threading.setCount(\(target)) did not reach OpenBLAS")
        }
        Threading.setCount(before)
        #expect(!Threading.blasCoreName.isEmpty)
    }
}
