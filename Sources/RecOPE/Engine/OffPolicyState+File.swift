import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension OffPolicyState {
    /// The state as JSON (self-describing: format name, version, settings, pass, sums).
    /// Non-finite sums are written as the strings "inf", "-inf", "nan" and read back as such.
    /// A `checksum` field holds a hash of the rest (the encoding without it), checked on reading.
    public func encoded() throws(RecOPEError) -> Data {
        var s = self
        s.checksum = try s.contentChecksum()
        return try s.encodedAsIs()
    }

    func encodedAsIs() throws(RecOPEError) -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try e.encode(self) } catch {
            throw .invalidParameter("offline A/B state: cannot encode (\(error))")
        }
    }

    /// The hash of the encoding without the checksum (sorted keys, shortest round-trip numbers:
    /// decoding and encoding again gives the same bytes).
    func contentChecksum() throws(RecOPEError) -> String {
        var s = self
        s.checksum = nil
        return String(RowHash.key(bytes: try s.encodedAsIs()), radix: 16)
    }

    /// Writes the state atomically (temporary file, then rename).
    /// - Throws: `.cannotOpen` naming the file when it cannot be written.
    public func write(to path: String) throws(RecOPEError) {
        let data = try encoded()
        do { try AtomicFile.write(data, to: path) } catch { throw opeError(error) }
    }

    /// Reads a state file and checks that it is whole and of this version.
    /// - Throws: `.cannotOpen`, or `.malformedFile` for a truncated, foreign or inconsistent file.
    public static func load(_ path: String) throws(RecOPEError) -> OffPolicyState {
        let data = try readFile(path)
        return try decode(data, file: path)
    }

    /// Decodes a state; `file` names it in errors. `verifyingChecksum: false` skips the content
    /// checksum (for inspecting a damaged file, and for the fuzzer to reach the checks after it);
    /// every other check still runs.
    public static func decode(_ data: Data, file: String, verifyingChecksum: Bool = true) throws(RecOPEError)
        -> OffPolicyState
    {
        struct Header: Decodable {
            var format: String?
            var version: Int?
        }
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let header = try? d.decode(Header.self, from: data), header.format == formatName else {
            throw .malformedFile(
                file: file, line: nil,
                message:
                    "not a RecKit offline A/B state (a JSON object with \"format\": \"\(formatName)\"); truncated or foreign"
            )
        }
        guard header.version == currentVersion else {
            throw .malformedFile(
                file: file, line: nil,
                message:
                    "state version \(header.version.map(String.init) ?? "missing"); this RecKit reads version \(currentVersion)"
            )
        }
        var s: OffPolicyState
        do { s = try d.decode(OffPolicyState.self, from: data) } catch {
            throw .malformedFile(file: file, line: nil, message: "damaged state (\(decodingMessage(error)))")
        }
        var intact = !verifyingChecksum
        if !intact, let stored = s.checksum { intact = stored == (try s.contentChecksum()) }
        guard intact else {
            throw .malformedFile(
                file: file, line: nil,
                message: s.checksum == nil
                    ? "damaged state (no checksum)"
                    : "damaged or edited state (its checksum does not match its content; write it again with offline-ab)"
            )
        }
        s.checksum = nil
        if let problem = s.inconsistency() {
            throw .malformedFile(file: file, line: nil, message: "inconsistent state: \(problem)")
        }
        return s
    }

    /// The first way the decoded sums disagree with the settings, or nil.
    func inconsistency() -> String? {
        let s = settings
        let C = s.caps.count
        let B = s.bootstrap
        guard s.items > 0, s.depth > 0, s.items <= 1 << 31, s.depth <= 1 << 20, B >= 0, B <= 100_000, C <= 1000,
            s.shrinkage.count <= 1000, s.subGaussian.count <= 1000
        else {
            return "sizes out of range"
        }
        guard s.policies.count == policies.count, s.policyHashes.count == policies.count else { return "policy count" }
        guard counts.clicks.count == 2, counts.shows.count == 2,
            counts.clicks.allSatisfy({ $0.count == s.items * s.depth }),
            counts.shows.allSatisfy({ $0.count == s.items * s.depth })
        else {
            return "reward counts of the wrong size"
        }
        guard rows >= 0, completedPasses >= 0 else { return "negative counts" }
        let plan = self.plan
        for p in policies {
            guard p.passes.count == SumPass.allCases.count,
                zip(p.passes, plan.passes).allSatisfy({ sums, layout in
                    sums.map { s in layout.map { s.matches($0, replicates: B) } ?? false } ?? true
                }),
                p.passes[0] != nil,
                p.weights.above.count == p.weights.aboveCaps.count,
                p.weights.capReward.count == WeightSums.tableCaps.count,
                p.weights.capWeight.count == WeightSums.tableCaps.count,
                p.weights.histogram.map({ $0.count == WeightSums.histogramBins && $0.allSatisfy { $0 >= 0 } }) ?? true
            else {
                return "a policy's sums do not match its caps, groupings or replicates"
            }
        }
        if let n = newton {
            let P = n.design.parameters
            guard P <= LogisticDesign.maxParameters, n.theta.count == P, n.gradient.count == P,
                n.hessian.count == P * (P + 1) / 2
            else {
                return "the logistic model's sums do not match its design"
            }
        }
        let value = s.pieceGroupings.filter(\.isValueModel).count
        guard valueCuts.count == 0 || valueCuts.count == value else { return "value-model cuts" }
        return nil
    }
}
