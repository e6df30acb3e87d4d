import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension SASRec {
    /// Data-parallel training passes: the batch is split into contiguous parts, each part runs
    /// forward and backward on its own worker (the model itself or a replica sharing its
    /// parameter values) with single-threaded kernels, and the replicas' gradients are added into
    /// the model's. For the small GEMMs of a recommender encoder this scales where multi-threaded
    /// BLAS mostly spins.
    ///
    /// Prefer it in a training step whose other phases run on RecKit's threads (the catalog
    /// head's passes, Adam), even where the encoder alone is no faster: after a multi-threaded
    /// call OpenBLAS's worker threads keep spinning (yielding) for a while, and on few cores they
    /// take time from the kernels that follow. `recbench ce-step` measures both: on a 2-core
    /// host the head's forward took 43–60 ms after the whole-batch encoder and 34–43 ms after
    /// this one.
    public final class DataParallel {
        /// The encoder whose parameters the parts share and whose gradients receive the parts' sums.
        public let model: SASRec
        let replicas: [SASRec]

        /// - Parameters:
        ///   - model: the encoder whose parameters (and gradients) the parts share.
        ///   - workers: parts per batch (default: `Threading.count`).
        public init(_ model: SASRec, workers: Int = Threading.count) {
            self.model = model
            replicas = (1..<max(1, workers)).map { _ in SASRec(config: model.config, seed: 0) }
        }

        /// Parts per batch: the model and its replicas.
        public var workers: Int { replicas.count + 1 }

        func worker(_ w: Int) -> SASRec { w == 0 ? model : replicas[w - 1] }

        /// What `backward` needs: each part's rows and cache.
        public struct Cache { let parts: [(range: Range<Int>, cache: SASRec.Cache)] }

        /// Forward over the whole batch; the dropout masks are those of `SASRec.forward` on the
        /// whole batch (per sequence, from `seed` and `firstSample + b`), whatever the workers.
        public func forward(_ sequences: [[Int]], training: Bool, seed: UInt64 = 0, firstSample: Int = 0)
            throws(RecNNError) -> (states: Matrix, cache: Cache)
        {
            let B = sequences.count
            let W = max(1, min(workers, B / 32))
            if W == 1 {
                let (s, c) = try model.forward(sequences, training: training, seed: seed, firstSample: firstSample)
                return (s, Cache(parts: [(0..<B, c)]))
            }
            // Share the current parameter values (copy-on-write, no copy).
            for r in replicas { for (a, b) in zip(r.parameters, model.parameters) { a.value = b.value } }
            let ranges = (0..<W).map { ($0 * B / W)..<(($0 + 1) * B / W) }
            var results = [Result<(Matrix, SASRec.Cache), RecNNError>?](repeating: nil, count: W)
            results.withUnsafeMutableBufferPointer { out in
                let box = UncheckedBox(out.baseAddress!)
                Threading.perWorker(W) { w in
                    Threading.withSequentialKernels {
                        let part = Array(sequences[ranges[w]])
                        do {
                            let r = try self.worker(w).forward(
                                part, training: training, seed: seed,
                                firstSample: firstSample + ranges[w].lowerBound)
                            box.pointer[w] = .success(r)
                        } catch let e as RecNNError { box.pointer[w] = .failure(e) } catch {}
                    }
                }
            }
            var states = Matrix(rows: B, cols: model.config.dim)
            var parts = [(range: Range<Int>, cache: SASRec.Cache)]()
            for w in 0..<W {
                switch results[w]! {
                case .failure(let e):
                    // Re-number the position to the whole batch.
                    if case .itemOutOfRange(let id, let pos, let n) = e {
                        throw .itemOutOfRange(
                            id: id, position: pos + ranges[w].lowerBound * model.config.length, vocabulary: n)
                    }
                    throw e
                case .success(let (s, c)):
                    for (i, b) in ranges[w].enumerated() { states.setRow(b, s.row(i)) }
                    parts.append((ranges[w], c))
                }
            }
            return (states, Cache(parts: parts))
        }

        /// Backward for the whole batch; accumulates every gradient into the model's parameters.
        public func backward(_ cache: Cache, _ dStates: Matrix) {
            if cache.parts.count == 1 {
                model.backward(cache.parts[0].cache, dStates)
                return
            }
            Threading.perWorker(cache.parts.count) { w in
                Threading.withSequentialKernels {
                    let part = cache.parts[w]
                    self.worker(w).backward(part.cache, dStates.rows(part.range))
                }
            }
            for r in replicas.prefix(cache.parts.count - 1) {
                for (mine, theirs) in zip(model.parameters, r.parameters) {
                    mine.accumulateGradient(from: theirs)
                    theirs.zeroGrad()
                }
            }
            releaseShared()
        }

        /// Drops the replicas' shares of the model's values, so that an optimiser's in-place
        /// update of the model finds them unshared and copies nothing (a share held past the step
        /// made every Adam step copy the item embedding: 25.6 MB at 100,000 items × 64). The next
        /// `forward` shares them again. `backward` calls it; call it after a `forward` that no
        /// `backward` follows (inference).
        public func releaseShared() {
            for r in replicas { for p in r.parameters { p.value = Matrix(rows: 0, cols: 0) } }
        }
    }
}

/// A pointer shared by workers that write disjoint elements.
struct UncheckedBox<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}
