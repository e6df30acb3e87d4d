import Synchronization

/// Monte Carlo rank sampling: counts of "item i at rank r" over many sampled rankings.
///
/// A ranking is the top-k of one row of random scores (one score per item, higher first). The
/// caller supplies how a block of rows of scores is drawn; RankSampling cuts the simulations into
/// chunks of `max(1, 4096 / items)` rows, gives chunk `c` the stream `RandomStream(seed).split(c)`,
/// draws its scores, selects each row's top-k and counts. Counts are integers summed over chunks,
/// so the result for a seed is identical whatever the thread count.
///
/// Ties: equal scores are ordered uniformly at random. Each (row, item) gets a random tie-break
/// key whose high bits are random and low bits the item, and the top-k orders by (score, key).
/// NaN scores rank last.
public enum RankSampling {
    /// Draws scores for `rows` rows × `items` columns (row-major) into the buffer, using the
    /// stream. Created once per worker thread by a factory, so it may own scratch space.
    public typealias ScoreFiller = (_ out: UnsafeMutablePointer<Float>, _ rows: Int, _ stream: RandomStream) -> Void

    /// Rows per chunk for a catalog of `items` items.
    public static func rowsPerChunk(items: Int) -> Int { max(1, 4096 / max(items, 1)) }

    /// Counts of item `i` at rank `r` (0-based) in `counts[i * k + r]`, over `simulations`
    /// rankings of the top `k` of `items` items.
    /// - Parameters:
    ///   - makeFiller: called once per worker; the filler it returns draws the scores.
    /// - Precondition: `1 <= k <= items`, `simulations >= 0`, `items < 2^24`.
    /// - Complexity: `simulations × items` score draws plus a vectorised top-k per row.
    /// Inputs beyond these are refused by the callers that take them from outside (2⁴⁰ rankings
    /// are days of work; item indices live in the low 24 bits of a tie-break key).
    public static let maxSimulations = 1 << 40, maxItems = 1 << 24

    public static func counts(
        items n: Int, k: Int, simulations: Int, seed: UInt64,
        parallelism: Parallelism = .automatic,
        makeFiller: () -> ScoreFiller
    ) -> [Int] {
        precondition(n >= 1 && k >= 1 && k <= n, "RankSampling.counts: need 1 ≤ k ≤ items, got k=\(k), items=\(n)")
        precondition(simulations >= 0, "RankSampling.counts: negative simulation count \(simulations)")
        precondition(n < maxItems, "RankSampling.counts: fewer than 2^24 items, got \(n)")
        precondition(simulations <= maxSimulations, "RankSampling.counts: at most 2^40 simulations, got \(simulations)")
        BuildTarget.reportOnce()
        let rpc = rowsPerChunk(items: n)
        let chunks = (simulations + rpc - 1) / rpc
        let root = RandomStream(seed: seed)
        let keys = TieKeys(items: n)
        let total = UncheckedSendable(UnsafeMutablePointer<Int>.allocate(capacity: n * k))
        total.value.initialize(repeating: 0, count: n * k)
        defer { total.value.deallocate() }
        let lock = SpinLock()
        Threading.parallelFor(
            chunks: chunks, parallelism: parallelism,
            scratch: { Worker(fill: makeFiller(), rows: rpc, n: n, k: k) },
            release: { w in
                lock.withLock { for j in 0..<(n * k) { total.value[j] += w.counts[j] } }
            },
            body: { c, w in
                let stream = root.split(c)
                w.count(rows: min(rpc, simulations - c * rpc), stream: stream, keys: keys)
            })
        return Array(UnsafeBufferPointer(start: total.value, count: n * k))
    }

    /// Tie-break keys of a catalog: the item in the low `itemBits` bits, random bits above.
    struct TieKeys {
        let randomShift: UInt32
        let randomMask: UInt32
        let itemMask: Int32
        let items: Int
        static let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

        init(items n: Int) {
            let itemBits = max(1, Int.bitWidth - (n - 1).leadingZeroBitCount)
            randomShift = UInt32(itemBits)
            randomMask = UInt32((1 << (31 - itemBits)) - 1)
            itemMask = Int32((1 << itemBits) - 1)
            items = n
        }

        /// Fresh random keys for one row into `out` (rounded up to whole vectors).
        @inline(__always)
        func fill(_ out: UnsafeMutablePointer<Int32>, using tie: inout SIMDXoshiro128) {
            var j = 0
            while j < items {
                let randomBits =
                    (tie.next() & SIMD16<UInt32>(repeating: randomMask)) &<< SIMD16<UInt32>(repeating: randomShift)
                let keysV =
                    unsafeBitCast(randomBits, to: SIMD16<Int32>.self)
                    | (Self.lane &+ SIMD16<Int32>(repeating: Int32(j)))
                UnsafeMutableRawPointer(out + j).storeBytes(of: keysV, as: SIMD16<Int32>.self)
                j += 16
            }
        }

        /// The item a key stands for.
        @inline(__always)
        func item(_ key: Int32) -> Int { Int(key & itemMask) }
    }

    /// A worker's filler, its scratch (scores, the ranker) and its own counts.
    final class Worker {
        let fill: ScoreFiller
        let k: Int
        let n: Int
        let scores: UnsafeMutablePointer<Float>
        let counts: UnsafeMutablePointer<Int>
        let ranker: RowRanker

        init(fill: @escaping ScoreFiller, rows: Int, n: Int, k: Int) {
            self.fill = fill
            self.k = k
            self.n = n
            scores = .allocate(capacity: rows * n)
            counts = .allocate(capacity: n * k)
            counts.initialize(repeating: 0, count: n * k)
            ranker = RowRanker(items: n, k: k)
        }

        deinit {
            scores.deallocate()
            counts.deallocate()
        }

        /// One chunk: draws `rows` rows of scores from `stream`, ranks each row's top-k with
        /// fresh tie-break keys (from `stream.split(-1)`) and counts the ranks.
        @inline(__always)
        func count(rows: Int, stream: RandomStream, keys tieKeys: TieKeys) {
            fill(scores, rows, stream)
            var tie = stream.split(-1).vectorGenerator()
            for r in 0..<rows { ranker.count(scores + r * n, tieKeys: tieKeys, tie: &tie, into: counts) }
        }
    }

    /// Ranks one row of scores with fresh random tie-break keys and counts its ranks: the
    /// scratch (keys padded to whole vectors, the top-k heap) and the steps that `RankSampling`'s
    /// rows and `BetaRankSampler`'s tied rankings share.
    final class RowRanker {
        let k: Int
        let keys: UnsafeMutablePointer<Int32>
        let heapS: UnsafeMutablePointer<Float>
        let heapK: UnsafeMutablePointer<Int32>
        let sortedS: UnsafeMutablePointer<Float>
        let sortedK: UnsafeMutablePointer<Int32>

        init(items n: Int, k: Int) {
            self.k = k
            keys = .allocate(capacity: ((n + 15) / 16) * 16)
            heapS = .allocate(capacity: k)
            heapK = .allocate(capacity: k)
            sortedS = .allocate(capacity: k)
            sortedK = .allocate(capacity: k)
        }

        deinit {
            keys.deallocate()
            heapS.deallocate()
            heapK.deallocate()
            sortedS.deallocate()
            sortedK.deallocate()
        }

        /// Adds 1 to `counts[item * k + rank]` for the top k of `row` (`tieKeys.items` scores),
        /// equal scores ordered by keys drawn from `tie`.
        @inline(__always)
        func count(
            _ row: UnsafePointer<Float>, tieKeys: TieKeys, tie: inout SIMDXoshiro128,
            into counts: UnsafeMutablePointer<Int>
        ) {
            tieKeys.fill(keys, using: &tie)
            var heap = RowHeap(scores: heapS, items: heapK, k: k)
            heap.scan(row, count: tieKeys.items, keys: keys)
            let found = heap.count
            heap.drainSorted(into: sortedS, sortedK)
            for rank in 0..<found { counts[tieKeys.item(sortedK[rank]) * k + rank] += 1 }
        }
    }
}

/// A minimal lock for merging per-worker results.
final class SpinLock: @unchecked Sendable {
    private let m = Mutex<Void>(())
    func withLock<R>(_ body: () -> R) -> R { m.withLock { _ in body() } }
}
