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

/// The event-log formats `reckit train` and `evaluate` read (`--format`).
public enum EventLogFormat: String, NamedChoice {
    /// A CSV with column roles (`EventColumns`): session, time, item, event, price.
    case csv
    /// RetailRocket's `events.csv` (visitors are sessions).
    case retailrocket
    /// YooChoose (RecSys Challenge 2015): the clicks file and, optionally, the buys file.
    case yoochoose
    /// MovieLens ratings (`u.data`, `ratings.csv`, `ratings.dat` or RecBole's `.inter`), ratings
    /// mapped to event types (users are sessions).
    case movielens
}
