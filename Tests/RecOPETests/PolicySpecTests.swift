import Foundation
import RecCore
import RecOPE
import Testing

@Suite struct PolicySpecTests {
    let dir: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-spec-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()

    func spec(_ json: String, name: String = "p.json") throws -> String {
        let path = dir.appendingPathComponent(name).path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func buildsEveryKind() throws {
        try "time,item,click\n0,0,1\n3600,1,0\n7200,2,1\n".write(
            toFile: dir.appendingPathComponent("log.csv").path, atomically: true, encoding: .utf8)
        let ts = try PolicySpec.load(
            try spec(
                #"{"kind": "bernoulli_ts", "alpha": [1, 2], "beta": [10, 20], "clicks": [1, 0], "impressions": [3, 1]}"#
            ))
        #expect((ts as! ThompsonSampling).alpha == [2, 2] && (ts as! ThompsonSampling).beta == [12, 21])
        let pts = try PolicySpec.load(
            try spec(
                #"{"kind": "priority_ts", "alpha": [1, 2], "beta": [10, 20], "boost": {"items": [1], "rule": "additive", "amount": 0.05}}"#
            ))
        #expect((pts as! ThompsonSampling).boost == PriorityBoost(items: [1], rule: .additive(0.05)))
        let dots = try PolicySpec.load(
            try spec(
                #"{"kind": "dots", "alpha": [1, 1, 2], "beta": [50, 50, 60], "log": "log.csv", "discount": 0.5, "period_hours": 1}"#
            ))
        let d = dots as! ThompsonSampling
        #expect(d.optimistic && d.alpha == [1.25, 1, 3] && d.beta == [50, 50.5, 60])
        #expect(
            try PolicySpec.load(try spec(#"{"kind": "plackett_luce", "scores": [1, 2], "temperature": 0.5}"#))
                is PlackettLuce)
        #expect(
            try PolicySpec.load(try spec(#"{"kind": "epsilon_greedy", "scores": [1, 2], "epsilon": 0.1}"#))
                is EpsilonGreedy)
        #expect(try PolicySpec.load(try spec(#"{"kind": "uniform", "items": 4}"#)).itemCount == 4)
    }

    @Test func errorsNameFileAndKey() throws {
        let p1 = try spec(#"{"kind": "bernoulli_ts", "alpha": [1, true], "beta": [1, 2]}"#)
        #expect(throws: RecOPEError.malformedFile(file: p1, line: nil, message: #""alpha"[1] is not a number"#)) {
            try PolicySpec.load(p1)
        }
        let p2 = try spec(#"{"kind": "nope"}"#)
        #expect(
            throws: RecOPEError.malformedFile(
                file: p2, line: nil,
                message:
                    "unknown kind 'nope' (expected bernoulli_ts, priority_ts, dts, dots, plackett_luce, epsilon_greedy or uniform)"
            )
        ) { try PolicySpec.load(p2) }
        // A misspelt key: refused with the keys the kind takes.
        let p7 = try spec(#"{"kind": "epsilon_greedy", "scores": [1, 2], "epsilon": 0.1, "temprature": 2}"#)
        #expect(
            throws: RecOPEError.malformedFile(
                file: p7, line: nil,
                message:
                    #"unknown key "temprature" for kind epsilon_greedy (it takes: epsilon, kind, scores, scores_file)"#)
        ) { try PolicySpec.load(p7) }
        let p8 = try spec(#"{"kind": "uniform"}"#)
        #expect(throws: RecOPEError.malformedFile(file: p8, line: nil, message: #"kind uniform needs "items""#)) {
            try PolicySpec.load(p8)
        }
        let p3 = try spec(#"{"kind": "priority_ts", "alpha": [1], "beta": [1]}"#)
        #expect(
            throws: RecOPEError.malformedFile(file: p3, line: nil, message: #"kind priority_ts needs a "boost" object"#)
        ) { try PolicySpec.load(p3) }
        let p4 = try spec("{not json")
        #expect(throws: RecOPEError.self) { try PolicySpec.load(p4) }
        let p5 = try spec(#"{"kind": "bernoulli_ts", "prior": "missing.yaml"}"#)
        #expect(
            throws: RecOPEError.cannotOpen(
                file: dir.appendingPathComponent("missing.yaml").path, reason: "no such file")
        ) { try PolicySpec.load(p5) }
        let p6 = try spec(#"{"kind": "bernoulli_ts", "alpha": [1, -1], "beta": [1, 2]}"#)
        #expect(throws: RecOPEError.self) { try PolicySpec.load(p6) }
    }

    /// Every kind as a Codable value: decoded with JSONDecoder, encoded and decoded again to the
    /// same value, building the policy `PolicySpec.load` builds from the same text; a spec written
    /// in Swift encodes to a file `load` reads; unknown keys and kinds are refused as by `load`.
    @Test func specsAreCodableValues() throws {
        try "time,item,click\n0,0,1\n3600,1,0\n".write(
            toFile: dir.appendingPathComponent("log.csv").path, atomically: true, encoding: .utf8)
        let texts = [
            #"{"kind": "bernoulli_ts", "alpha": [1, 2], "beta": [10, 20], "clicks": [1, 0], "impressions": [3, 1]}"#,
            #"{"kind": "priority_ts", "alpha": [1, 2], "beta": [10, 20], "optimistic": true, "boost": {"items": [1], "rule": "multiplicative", "amount": 1.5}}"#,
            #"{"kind": "dots", "alpha": [1, 1, 2], "beta": [50, 50, 60], "discount": 0.5, "period_hours": 1, "at": 9000}"#,
            #"{"kind": "plackett_luce", "scores": [1, 2.5, -1], "temperature": 0.5}"#,
            #"{"kind": "epsilon_greedy", "scores": [1, 2], "epsilon": 0.1}"#,
            #"{"kind": "uniform", "items": 4}"#,
        ]
        for text in texts {
            let value = try JSONDecoder().decode(AnyPolicySpec.self, from: Data(text.utf8))
            let again = try JSONDecoder().decode(AnyPolicySpec.self, from: try JSONEncoder().encode(value))
            #expect(again == value, "\(text)")
            let a = try value.policy()
            let b = try PolicySpec.load(try spec(text))
            #expect(a.name == b.name && a.itemCount == b.itemCount)
            let (ma, mb) = (try a.exactMarginals(k: 2), try b.exactMarginals(k: 2))
            for i in 0..<a.itemCount {
                for r in 0..<2 { #expect(ma.probability(item: i, rank: r) == mb.probability(item: i, rank: r)) }
            }
        }
        // One kind's type decodes its own kind only.
        let pl = try JSONDecoder().decode(PlackettLuceSpec.self, from: Data(texts[3].utf8))
        #expect(pl == PlackettLuceSpec(scores: .inline([1, 2.5, -1]), temperature: 0.5))
        #expect(throws: RecOPEError.self) { try JSONDecoder().decode(UniformSpec.self, from: Data(texts[3].utf8)) }
        // Written in Swift, read as a file (a relative scores_file resolved against the spec's folder).
        try "0.5\n-1\n2\n".write(
            toFile: dir.appendingPathComponent("scores.csv").path, atomically: true, encoding: .utf8)
        let written = AnyPolicySpec.plackettLuce(PlackettLuceSpec(scores: .file("scores.csv"), temperature: 2))
        let path = try spec(String(decoding: try JSONEncoder().encode(written), as: UTF8.self), name: "w.json")
        let loaded = try #require(try PolicySpec.load(path) as? PlackettLuce)
        #expect(loaded.scores == [0.5, -1, 2] && loaded.temperature == 2)
        let ts = AnyPolicySpec.discountedThompsonSampling(
            DiscountedThompsonSamplingSpec(prior: .inline(alpha: [1, 1], beta: [5, 5]), log: "log.csv"))
        let back = try PolicySpec.load(
            try spec(String(decoding: try JSONEncoder().encode(ts), as: UTF8.self), name: "d.json"))
        #expect((back as! ThompsonSampling).alpha[0] > 1)
        // Unknown keys and kinds: the messages `load` gives.
        #expect {
            try JSONDecoder().decode(
                AnyPolicySpec.self, from: Data(#"{"kind": "uniform", "items": 3, "itmes": 4}"#.utf8))
        } throws: { error in
            guard case .malformedFile(_, _, let m) = error as? RecOPEError else { return false }
            return m == #"unknown key "itmes" for kind uniform (it takes: items, kind)"#
        }
        #expect {
            try JSONDecoder().decode(AnyPolicySpec.self, from: Data(#"{"kind": "softmax"}"#.utf8))
        } throws: { error in
            guard case .malformedFile(_, _, let m) = error as? RecOPEError else { return false }
            return m.hasPrefix("unknown kind 'softmax' (expected bernoulli_ts")
        }
    }
}
