/// A bounded heap holding the best `k` (score, item) pairs seen so far; the worst is at the root.
@usableFromInline
struct RowHeap {
    @usableFromInline let s: UnsafeMutablePointer<Float>
    @usableFromInline let ix: UnsafeMutablePointer<Int32>
    @usableFromInline let k: Int
    @usableFromInline var count: Int

    @inlinable init(scores: UnsafeMutablePointer<Float>, items: UnsafeMutablePointer<Int32>, k: Int) {
        s = scores
        ix = items
        self.k = k
        count = 0
    }

    /// The filter threshold: candidates below it cannot enter. `-inf` while the heap is not
    /// full or holds a NaN (then every candidate goes through the exact comparison).
    @inlinable var threshold: Float {
        if count < k { return -.infinity }
        let r = s[0]
        return r != r ? -.infinity : r
    }

    /// True when the cheap `x >= threshold` filter is exact (full heap, no NaN at the root).
    @inlinable var filterIsExact: Bool { count == k && s[0] == s[0] }

    @inlinable mutating func offer(_ score: Float, _ item: Int32) {
        if count < k {
            var i = count
            count += 1
            // Sift up: parents must rank below children.
            while i > 0 {
                let p = (i - 1) >> 1
                if ranksAbove(s[p], ix[p], score, item) {
                    s[i] = s[p]
                    ix[i] = ix[p]
                    i = p
                } else {
                    break
                }
            }
            s[i] = score
            ix[i] = item
            return
        }
        guard ranksAbove(score, item, s[0], ix[0]) else { return }
        siftDownFromRoot(score, item)
    }

    @inlinable mutating func siftDownFromRoot(_ score: Float, _ item: Int32) {
        var i = 0
        let n = count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var c = l
            let r = l + 1
            if r < n && ranksAbove(s[l], ix[l], s[r], ix[r]) { c = r }
            // c is the worse child; if it ranks below the new element, move it up.
            if ranksAbove(score, item, s[c], ix[c]) {
                s[i] = s[c]
                ix[i] = ix[c]
                i = c
            } else {
                break
            }
        }
        s[i] = score
        ix[i] = item
    }

    /// Offers `n` consecutive scores (plus optional bias) for items `firstItem ..< firstItem+n`.
    /// Vectorised: 64 scores are compared with the threshold at once and skipped when none
    /// can enter, which is the common case once the heap is full.
    @inlinable mutating func scan(_ p: UnsafePointer<Float>, bias: UnsafePointer<Float>?, count n: Int, firstItem: Int)
    {
        typealias V = SIMD16<Float>
        var i = 0
        while i + 64 <= n {
            if filterIsExact {
                let t = V(repeating: s[0])
                var v0 = VectorMath.load(p + i)
                var v1 = VectorMath.load(p + i + 16)
                var v2 = VectorMath.load(p + i + 32)
                var v3 = VectorMath.load(p + i + 48)
                if let b = bias {
                    v0 += VectorMath.load(b + i)
                    v1 += VectorMath.load(b + i + 16)
                    v2 += VectorMath.load(b + i + 32)
                    v3 += VectorMath.load(b + i + 48)
                }
                let m = (v0 .>= t) .| (v1 .>= t) .| (v2 .>= t) .| (v3 .>= t)
                if !any(m) {
                    i += 64
                    continue
                }
            }
            offerScalar(p + i, bias: bias.map { $0 + i }, count: 64, firstItem: firstItem + i)
            i += 64
        }
        if i < n { offerScalar(p + i, bias: bias.map { $0 + i }, count: n - i, firstItem: firstItem + i) }
    }

    @inlinable mutating func offerScalar(
        _ p: UnsafePointer<Float>, bias: UnsafePointer<Float>?, count n: Int, firstItem: Int
    ) {
        if let b = bias {
            for j in 0..<n {
                let v = p[j] + b[j]
                if count < k || !(v < s[0]) || s[0] != s[0] { offer(v, Int32(truncatingIfNeeded: firstItem + j)) }
            }
        } else {
            for j in 0..<n {
                let v = p[j]
                if count < k || !(v < s[0]) || s[0] != s[0] { offer(v, Int32(truncatingIfNeeded: firstItem + j)) }
            }
        }
    }

    /// Offers `n` scores whose tie-break keys are given (`keys[j]` stands in for the item index in
    /// the order; the caller decodes items from keys).
    ///
    /// For `k ≤ 16` on an empty heap it runs two vector passes: the lane-wise maxima of the row
    /// give 16 distinct elements, so their k-th largest `t` is at most the row's k-th largest,
    /// and only elements `≥ t` (typically about k of them) reach the heap.
    @inlinable mutating func scan(_ p: UnsafePointer<Float>, count n: Int, keys: UnsafePointer<Int32>) {
        typealias V = SIMD16<Float>
        if k <= 16 && count == 0 && n >= 32 {
            var mx = V(repeating: -.infinity)
            var i = 0
            while i + 16 <= n {
                mx = VectorMath.maximum(mx, VectorMath.load(p + i))
                i += 16
            }
            if i < n { mx = VectorMath.maximum(mx, VectorMath.loadPartial(p + i, n - i, fill: -.infinity)) }
            // The k-th largest lane (counting equal lanes separately), without allocating.
            var t = -Float.infinity
            var left = k
            var rest = mx
            while left > 0 {
                let top = VectorMath.horizontalMax(rest)
                if !(top > -.infinity) {
                    t = -.infinity
                    break
                }
                let eq = rest .== V(repeating: top)
                left -= eq.nonzeroLaneCount
                t = top
                rest = rest.replacing(with: -.infinity, where: eq)
            }
            if t > -.infinity {
                let tv = V(repeating: t)
                i = 0
                while i + 16 <= n {
                    let m = VectorMath.load(p + i) .>= tv
                    if any(m) { for j in i..<(i + 16) where p[j] >= t { offer(p[j], keys[j]) } }
                    i += 16
                }
                while i < n {
                    if p[i] >= t { offer(p[i], keys[i]) }
                    i += 1
                }
                // NaN scores never reach the filter; they matter only if fewer than k numbers exist,
                // which t > -inf rules out (16 lane maxima ≥ t means at least k numbers).
                return
            }
        }
        var i = 0
        while i < n {
            let m = min(16, n - i)
            if m == 16 && filterIsExact && !any(VectorMath.load(p + i) .>= V(repeating: s[0])) {
                i += 16
                continue
            }
            for j in i..<(i + m) {
                let v = p[j]
                if count < k || !(v < s[0]) || s[0] != s[0] { offer(v, keys[j]) }
            }
            i += 16
        }
    }

    /// Offers a run of scores while skipping the excluded items in `excluded` (sorted), which
    /// all lie in `firstItem ..< firstItem+n`.
    @inlinable mutating func scan(
        _ p: UnsafePointer<Float>, bias: UnsafePointer<Float>?, count n: Int, firstItem: Int,
        skipping excluded: ArraySlice<Int>
    ) {
        var start = 0
        for x in excluded {
            let e = Int(x) - firstItem
            if e > start {
                scan(p + start, bias: bias.map { $0 + start }, count: e - start, firstItem: firstItem + start)
            }
            start = e + 1
        }
        if start < n { scan(p + start, bias: bias.map { $0 + start }, count: n - start, firstItem: firstItem + start) }
    }

    /// The heap's contents sorted best first, written to `outScores`/`outItems`, by popping the
    /// worst element into the last free slot (heapsort, no allocation). Leaves the heap empty.
    /// - Complexity: O(k log k).
    @inlinable mutating func drainSorted(
        into outScores: UnsafeMutablePointer<Float>, _ outItems: UnsafeMutablePointer<Int32>
    ) {
        while count > 0 {
            let last = count - 1
            outScores[last] = s[0]
            outItems[last] = ix[0]
            let ms = s[last]
            let mi = ix[last]
            count = last
            if last > 0 { siftDownFromRoot(ms, mi) }
        }
    }
}
