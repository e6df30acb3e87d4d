extension ActionDistributionOPE {
    /// Per-round action distributions of both policies and a known distribution of action
    /// embeddings given the action (OBP's `pi_b`, `action_dist` and `p_e_a`), for the marginalized
    /// importance weights of MIPS (Saito & Joachims, ICML 2022). Buffers are owned by the caller.
    public struct EmbeddingRounds {
        /// Rounds.
        public let n: Int
        /// Actions.
        public let actions: Int
        /// Positions (slots).
        public let positions: Int
        /// Embedding dimensions.
        public let dimensions: Int
        /// Categories per dimension.
        public let categories: Int
        /// The position of each round (0-based): `n`.
        public let position: UnsafeBufferPointer<Int64>
        /// The logged embedding: `n × dimensions`, each a category in `0..<categories`.
        public let embedding: UnsafeBufferPointer<Int64>
        /// π_b(a | x_t, p): `n × actions × positions`.
        public let logging: UnsafeBufferPointer<Double>
        /// π_e(a | x_t, p): `n × actions × positions`.
        public let target: UnsafeBufferPointer<Double>
        /// p(e_d = c | a): `actions × categories × dimensions` (OBP's `p_e_a`).
        public let embeddingDistribution: UnsafeBufferPointer<Double>

        /// Checks every value against the shapes.
        /// - Throws: `RecOPEError.invalidParameter` naming the array, the index and the value.
        public init(
            n: Int, actions: Int, positions: Int, dimensions: Int, categories: Int,
            position: UnsafeBufferPointer<Int64>, embedding: UnsafeBufferPointer<Int64>,
            logging: UnsafeBufferPointer<Double>, target: UnsafeBufferPointer<Double>,
            embeddingDistribution: UnsafeBufferPointer<Double>
        ) throws(RecOPEError) {
            guard n >= 1, actions >= 1, positions >= 1, dimensions >= 1, categories >= 1 else {
                throw .invalidParameter(
                    "n_rounds, n_actions, len_list, embedding dimensions and categories must be ≥ 1")
            }
            let cells = n * actions * positions
            guard position.count == n, embedding.count == n * dimensions, logging.count == cells,
                target.count == cells, embeddingDistribution.count == actions * categories * dimensions
            else { throw .invalidParameter("array lengths do not match their shapes") }
            for t in 0..<n where !(position[t] >= 0 && position[t] < positions) {
                throw .invalidParameter("position[\(t)] = \(position[t]) is not in 0..<\(positions)")
            }
            for (i, e) in embedding.enumerated() where !(e >= 0 && e < categories) {
                throw .invalidParameter(
                    "action_embed[\(i / dimensions), \(i % dimensions)] = \(e) is not in 0..<\(categories) (p_e_a's categories)"
                )
            }
            for (name, a) in [("pi_b", logging), ("action_dist", target)] {
                if let i = a.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
                    let (t, b, p) = (i / (actions * positions), (i / positions) % actions, i % positions)
                    throw .invalidParameter("\(name)[\(t), \(b), \(p)] = \(a[i]) is not a finite probability")
                }
            }
            if let i = embeddingDistribution.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
                let (a, c, d) = (i / (categories * dimensions), (i / dimensions) % categories, i % dimensions)
                let v = embeddingDistribution[i]
                throw .invalidParameter("p_e_a[\(a), \(c), \(d)] = \(v) is not a finite probability")
            }
            (self.n, self.actions, self.positions, self.dimensions, self.categories) =
                (n, actions, positions, dimensions, categories)
            (self.position, self.embedding, self.logging, self.target) = (position, embedding, logging, target)
            self.embeddingDistribution = embeddingDistribution
        }
    }

    /// The marginalized importance weights w(x_t, e_t) = Π_d p(e_td | x_t, π_e) / Π_d p(e_td | x_t, π_b),
    /// p(e_d = c | x, π) = Σ_a π(a | x, p_t)·p(e_d = c | a) (OBP's `MarginalizedInverseProbabilityWeighting`
    /// given `p_e_a`: the product over dimensions treats them as independent given x), written to
    /// `out` (`n`). One pass over each round's distributions: O(n·actions·dimensions).
    /// - Throws: `.invalidParameter` naming the round when the logging policy gives its logged
    ///   embedding probability 0 (the weight would be infinite).
    public static func marginalEmbeddingWeights(
        _ r: EmbeddingRounds, into out: UnsafeMutableBufferPointer<Double>
    ) throws(RecOPEError) {
        precondition(out.count == r.n)
        let (a, c, d) = (r.actions, r.categories, r.dimensions)
        for t in 0..<r.n {
            let p = Int(r.position[t])
            var logged = 1.0
            var target = 1.0
            for dim in 0..<d {
                let e = Int(r.embedding[t * d + dim])
                var pb = 0.0
                var pe = 0.0
                for b in 0..<a {
                    let q = r.embeddingDistribution[(b * c + e) * d + dim]
                    let cell = (t * a + b) * r.positions + p
                    pb += r.logging[cell] * q
                    pe += r.target[cell] * q
                }
                logged *= pb
                target *= pe
            }
            guard logged > 0 else {
                throw .invalidParameter(
                    "round \(t): the logging policy (pi_b) gives its logged embedding probability 0 (the weight is infinite)"
                )
            }
            out[t] = target / logged
        }
    }
}
