import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct StateColumnKernelsTests {
    /// streamZero clears exactly its range, from every alignment (plain stores before the first
    /// 32-byte boundary and after the last 16-float run) and for every length up to 70.
    @Test func streamZeroClearsExactlyItsRange() {
        var buf = [Float](repeating: 7, count: 96)
        buf.withUnsafeMutableBufferPointer { b in
            for offset in 0..<9 {
                for n in 0...70 {
                    for i in b.indices { b[i] = Float(i + 1) }
                    Kernels.streamZero(b.baseAddress! + offset, count: n)
                    Kernels.storeFence()
                    for i in b.indices {
                        let inside = i >= offset && i < offset + n
                        #expect(b[i] == (inside ? 0 : Float(i + 1)), "offset \(offset) count \(n) index \(i)")
                    }
                }
            }
        }
    }

    /// maxInPlace, expShiftedAccumulating (shifts at or above x) and dot against scalar loops in
    /// Double, on counts
    /// around the 16-lane vector (full vectors, a partial tail, both).
    @Test(arguments: [1, 15, 16, 17, 50])
    func kernelsMatchScalarLoops(count n: Int) {
        let x = randomFloats(n, seed: 1, scale: 5)
        let m0 = randomFloats(n, seed: 2, scale: 5)
        // A max: at or above x (equal in a few lanes).
        let shift = zip(x, randomFloats(n, seed: 3, scale: 5)).enumerated().map {
            $0 % 5 == 0 ? $1.0 : $1.0 + abs($1.1)
        }
        let y = randomFloats(n, seed: 4, scale: 1)
        let s0 = randomFloats(n, seed: 5, scale: 1).map(abs)
        var m = m0
        var s = s0
        var e = [Float](repeating: .nan, count: n)
        var d: Float = 0
        x.withUnsafeBufferPointer { xp in
            shift.withUnsafeBufferPointer { hp in
                m.withUnsafeMutableBufferPointer { Kernels.maxInPlace($0.baseAddress!, xp.baseAddress!, count: n) }
                e.withUnsafeMutableBufferPointer { ep in
                    s.withUnsafeMutableBufferPointer {
                        Kernels.expShiftedAccumulating(
                            xp.baseAddress!, shift: hp.baseAddress!, into: $0.baseAddress!,
                            streamingTo: ep.baseAddress!,
                            count: n)
                    }
                }
                y.withUnsafeBufferPointer { d = Kernels.dot(xp.baseAddress!, $0.baseAddress!, count: n) }
            }
        }
        #expect(m == zip(m0, x).map { max($0, $1) })
        let eRef = (0..<n).map { exp(Double(x[$0]) - Double(shift[$0])) }
        #expect(closeness(e, eRef, atol: 0, rtol: 1e-6) == nil)
        #expect(closeness(s, (0..<n).map { Double(s0[$0]) + eRef[$0] }, atol: 0, rtol: 1e-6) == nil)
        let dRef = (0..<n).reduce(0.0) { $0 + Double(x[$1]) * Double(y[$1]) }
        let dScale = (0..<n).reduce(0.0) { $0 + abs(Double(x[$1]) * Double(y[$1])) }
        #expect(abs(Double(d) - dRef) <= 1e-6 * dScale)
    }

    /// expShiftedAccumulating gives `VectorMath.expFusedNonPositive`'s bits lane by lane, into a
    /// 32-byte-aligned destination (streaming stores) and one off by a float (plain stores),
    /// leaving the destination's neighbours untouched; then a store fence.
    @Test(arguments: [1, 15, 16, 17, 50])
    func streamedExponentialsMatchTheVectorExp(count n: Int) {
        let x = randomFloats(n, seed: 8, scale: 5)
        let shift = zip(x, randomFloats(n, seed: 9, scale: 5)).map { $0 + abs($1) }
        let s0 = randomFloats(n, seed: 10, scale: 1).map(abs)
        let e = (0..<n).map { VectorMath.expFusedNonPositive(SIMD16<Float>(repeating: x[$0] - shift[$0]))[0] }
        let sRef = (0..<n).map { s0[$0] + e[$0] }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: (n + 24) * 4, alignment: 64)
        defer { raw.deallocate() }
        let dst = raw.bindMemory(to: Float.self, capacity: n + 24)
        for offset in [8, 9] {
            dst.initialize(repeating: -1, count: n + 24)
            var s = s0
            x.withUnsafeBufferPointer { xp in
                s.withUnsafeMutableBufferPointer {
                    Kernels.expShiftedAccumulating(
                        xp.baseAddress!, shift: shift, into: $0.baseAddress!, streamingTo: dst + offset, count: n)
                }
            }
            Kernels.storeFence()
            let out = Array(UnsafeBufferPointer(start: dst, count: n + 24))
            #expect(Array(out[offset..<(offset + n)]) == e, "offset \(offset)")
            #expect(s == sRef, "offset \(offset)")
            #expect(out[..<offset].allSatisfy { $0 == -1 } && out[(offset + n)...].allSatisfy { $0 == -1 })
        }
    }

    /// scaled against the scalar products and their sum in Double.
    @Test(arguments: [1, 15, 16, 17, 50])
    func scaledMatchesScalarProducts(count n: Int) {
        let x = randomFloats(n, seed: 6, scale: 5)
        let f = randomFloats(n, seed: 7, scale: 2)
        var y = [Float](repeating: .nan, count: n)
        let sum = x.withUnsafeBufferPointer { xp in
            f.withUnsafeBufferPointer { fp in
                y.withUnsafeMutableBufferPointer {
                    Kernels.scaled(xp.baseAddress!, by: fp.baseAddress!, into: $0.baseAddress!, count: n)
                }
            }
        }
        #expect(y == zip(x, f).map { $0 * $1 })
        let ref = (0..<n).reduce(0.0) { $0 + Double(x[$1] * f[$1]) }
        let scale = (0..<n).reduce(0.0) { $0 + abs(Double(x[$1] * f[$1])) }
        #expect(abs(Double(sum) - ref) <= 1e-6 * scale)
    }
}
