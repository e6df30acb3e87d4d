import Foundation
import RecCore
import RecIO
import RecRL
import Testing

/// Named choices in configs: old headers, unknown names, round trips.
@Suite struct ModelConfigCodingTests {
    /// A header written before `encoder`, the output projection and the FFN dropout existed
    /// reads as SASRec with nil for both (the layout they had).
    @Test func headersWithoutNewerFieldsReadAsBefore() throws {
        let old =
            #"{"algorithm":"sqn","items":7,"length":10,"dim":8,"heads":2,"blocks":1,"dropout":0.1,"layout":"preLN"}"#
        let c = try JSONDecoder().decode(ModelConfig.self, from: Data(old.utf8))
        #expect(c.encoder == .sasrec && c.layout == .preLN && c.heads == 2)
        #expect(c.attentionOutputProjection == nil && c.ffnOutputDropout == nil)
        let gru = old.replacingOccurrences(of: "}", with: #","encoder":"gru"}"#)
        #expect(try JSONDecoder().decode(ModelConfig.self, from: Data(gru.utf8)).encoder == .gru)
    }

    /// Every field survives encoding and decoding; unknown names are errors that list the valid
    /// ones; a missing required field is named.
    @Test func roundTripAndUnknownNames() throws {
        var c = ModelConfig(items: 11)
        c.algorithm = .sa2c
        c.layout = .postLN
        c.encoder = .gru
        c.dim = 16
        let back = try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(c))
        #expect(back == c)
        let bad =
            #"{"algorithm":"sqn","items":7,"length":10,"dim":8,"heads":2,"blocks":1,"dropout":0.1,"layout":"sideways"}"#
        #expect {
            _ = try JSONDecoder().decode(ModelConfig.self, from: Data(bad.utf8))
        } throws: { error in
            decodingMessage(error) == "layout: must be one of original, preLN, postLN, got 'sideways'"
        }
        let missing = #"{"algorithm":"sqn","items":7,"length":10,"heads":2,"blocks":1,"dropout":0.1,"layout":"preLN"}"#
        #expect {
            _ = try JSONDecoder().decode(ModelConfig.self, from: Data(missing.utf8))
        } throws: { error in decodingMessage(error) == "missing field 'dim'" }
    }

    /// `init(parsing:field:)` gives the case or an error listing every valid name.
    @Test func parsingNamesTheField() throws {
        #expect(try Algorithm(parsing: "snqn", field: "--algos") == .snqn)
        #expect(
            throws: NamedChoiceError(field: "--algos", value: "dqn", validNames: ["ce", "sqn", "sac", "snqn", "sa2c"])
        ) {
            try Algorithm(parsing: "dqn", field: "--algos")
        }
        #expect(EventLogFormat.validNames == "csv, retailrocket, yoochoose, movielens")
        #expect(RewardTable.PriceScaling.allCases.map(\.rawValue) == ["none", "linear", "log"])
    }
}
