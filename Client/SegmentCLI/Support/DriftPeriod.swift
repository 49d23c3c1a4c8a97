import ArgumentParser

/// A period back from now: "24h", "7d" (hours or days), 1 hour to 90 days.
struct DriftPeriod: ExpressibleByArgument, Sendable {
    var hours: Int

    init?(argument: String) {
        let text = argument.lowercased()
        guard let unit = text.last, let number = Int(text.dropLast()), number > 0,
            number <= 90 * 24
        else {
            return nil
        }
        switch unit {
        case "h": hours = number
        case "d": hours = number * 24
        default: return nil
        }
        guard hours <= 90 * 24 else { return nil }
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
