// Kernels compiled per ISA and chosen at run time, for toolchains that have the experimental
// per-function target attribute (swiftlang/swift#91954; RecCore.docc, "Kernels per ISA, chosen at
// run time"). Swift 6.3 has no such attribute: `hasAttribute(_target)` is false and this file
// compiles to nothing. A toolchain that has it compiles the copies below, so the move is checked
// by the first build that can make it.
#if hasAttribute(_target)
    extension BetaRankSampler {
        @_target("avx512f,avx512bw,avx512dq,avx512vl,fma")
        static func countAVX512(_ w: LaneWorker, rows: Int, stream: RandomStream) {
            w.count(rows: rows, stream: stream)
        }

        @_target("avx2,fma")
        static func countAVX2(_ w: LaneWorker, rows: Int, stream: RandomStream) {
            w.count(rows: rows, stream: stream)
        }

        /// The copy of the chunk loop for this CPU.
        static var chunkLoop: (LaneWorker, Int, RandomStream) -> Void {
            if BuildTarget.host.contains(.avx512f) { return { countAVX512($0, rows: $1, stream: $2) } }
            if BuildTarget.host.contains(.avx2) { return { countAVX2($0, rows: $1, stream: $2) } }
            return { $0.count(rows: $1, stream: $2) }
        }
    }
#endif
