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

/// Dense ids for keys read from a file: integer keys without building a String per row.
struct KeyInterner {
    private var ints = [Int: Int32]()
    private var strings = [String: Int32]()
    private(set) var keys = [String]()

    mutating func id(_ reader: CSVReader, _ field: Int) -> Int32 {
        if let v = reader.int(field) {
            if let id = ints[v] { return id }
            let id = Int32(keys.count)
            ints[v] = id
            keys.append(String(v))
            return id
        }
        let s = reader.string(field)
        if let id = strings[s] { return id }
        let id = Int32(keys.count)
        strings[s] = id
        keys.append(s)
        return id
    }

    mutating func id(_ s: String) -> Int32 {
        if let v = Int(s) {
            if let id = ints[v] { return id }
            let id = Int32(keys.count)
            ints[v] = id
            keys.append(s)
            return id
        }
        if let id = strings[s] { return id }
        let id = Int32(keys.count)
        strings[s] = id
        keys.append(s)
        return id
    }
}

/// Appends rows while reading; shared by the loaders.
struct EventLogBuilder {
    var log: EventLog
    var sessions = KeyInterner(), items = KeyInterner()
    var types = [String: UInt8]()
    var hasPrices = false

    init(source: String) { log = EventLog(source: source) }

    mutating func append(session: Int32, item: Int32, event: String, time: Double, price: Float?) throws(RecRLError) {
        let code: UInt8
        if let c = types[event] {
            code = c
        } else {
            guard log.eventTypes.count < 255 else {
                throw .invalidParameter("\(log.source): more than 255 event types")
            }
            code = UInt8(log.eventTypes.count)
            types[event] = code
            log.eventTypes.append(event)
        }
        log.sessions.append(session)
        log.items.append(item)
        log.events.append(code)
        log.times.append(time)
        if let p = price {
            if !hasPrices {
                hasPrices = true
                log.prices = [Float](repeating: .nan, count: log.count - 1)
            }
            log.prices!.append(p)
        } else if hasPrices {
            log.prices!.append(.nan)
        }
    }

    func finish() throws(RecRLError) -> EventLog {
        var l = log
        l.sessionKeys = sessions.keys
        l.itemKeys = items.keys
        guard l.count > 0 else { throw .empty("\(l.source): no events") }
        return l
    }
}
