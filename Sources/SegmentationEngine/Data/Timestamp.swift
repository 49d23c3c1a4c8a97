/// Parses the timestamp formats found in transaction exports into seconds since 1970-01-01
/// (wall-clock time, read as UTC; an explicit ISO 8601 offset is applied).
///
/// Accepted: `2010-12-01 08:26:00`, `2010-12-01T08:26:00Z`, `2010-12-01T08:26:00.123+01:00`,
/// `2010-12-01`, `12/1/2010 8:26` (month/day/year, optional seconds), `20101201`.
public enum TimestampParser {
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var scanner = Scanner(bytes: bytes)
        scanner.skipSpaces()
        let first = scanner.number(maxDigits: 8)
        guard let first else { return nil }
        let date: (year: Int, month: Int, day: Int)
        if first.digits == 8 && scanner.atEnd {
            date = (first.value / 10000, first.value / 100 % 100, first.value % 100)
        } else if first.digits == 4 && scanner.take(UInt8(ascii: "-")) {
            guard let month = scanner.number(maxDigits: 2), scanner.take(UInt8(ascii: "-")),
                let day = scanner.number(maxDigits: 2)
            else { return nil }
            date = (first.value, month.value, day.value)
        } else if first.digits <= 2 && scanner.take(UInt8(ascii: "/")) {
            guard let day = scanner.number(maxDigits: 2), scanner.take(UInt8(ascii: "/")),
                let year = scanner.number(maxDigits: 4), year.digits == 4
            else { return nil }
            date = (year.value, first.value, day.value)
        } else {
            return nil
        }
        guard isValid(date) else { return nil }
        var seconds = Int64(daysFromCivil(date.year, date.month, date.day)) * 86_400
        guard !scanner.atEnd else { return seconds }
        guard scanner.take(UInt8(ascii: "T")) || scanner.take(UInt8(ascii: " ")) else { return nil }
        scanner.skipSpaces()
        guard let time = scanner.clock() else { return nil }
        seconds += time
        if scanner.take(UInt8(ascii: "Z")) || scanner.take(UInt8(ascii: "z")) {
        } else if let offset = scanner.offset() {
            seconds -= offset
        }
        scanner.skipSpaces()
        return scanner.atEnd ? seconds : nil
    }

    public static func parse(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    /// The calendar day (days since 1970-01-01) of a timestamp.
    public static func day(of seconds: Int64) -> Int {
        Int((seconds >= 0 ? seconds : seconds - 86_399) / 86_400)
    }

    /// `YYYY-MM-DD` of a day number.
    public static func isoDate(day: Int) -> String {
        let (y, m, d) = civilFromDays(day)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// Day number of a `YYYY-MM-DD` (or any accepted) date.
    public static func day(ofDate text: String) -> Int? {
        parse(text).map(day(of:))
    }

    private static func isValid(_ date: (year: Int, month: Int, day: Int)) -> Bool {
        guard (1...12).contains(date.month), date.day >= 1 else { return false }
        let leap = date.year % 4 == 0 && (date.year % 100 != 0 || date.year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return date.day <= lengths[date.month - 1]
    }

    // Howard Hinnant's algorithms: exact for the proleptic Gregorian calendar.
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        var atEnd: Bool { index >= bytes.count }

        mutating func skipSpaces() {
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func number(maxDigits: Int) -> (value: Int, digits: Int)? {
            var value = 0, digits = 0
            while index < bytes.count, digits < maxDigits, bytes[index] >= 48, bytes[index] <= 57 {
                value = value * 10 + Int(bytes[index] - 48)
                digits += 1
                index += 1
            }
            return digits > 0 ? (value, digits) : nil
        }

        /// `H:MM[:SS[.fraction]]` as seconds into the day.
        mutating func clock() -> Int64? {
            guard let hour = number(maxDigits: 2), take(UInt8(ascii: ":")),
                let minute = number(maxDigits: 2), minute.digits == 2
            else { return nil }
            var second = 0
            if take(UInt8(ascii: ":")) {
                guard let s = number(maxDigits: 2), s.digits == 2 else { return nil }
                second = s.value
                if take(UInt8(ascii: ".")) || take(UInt8(ascii: ",")) {
                    guard number(maxDigits: 9) != nil else { return nil }
                }
            }
            guard hour.value < 24, minute.value < 60, second < 61 else { return nil }
            return Int64(hour.value * 3600 + minute.value * 60 + second)
        }

        /// `+HH:MM`, `-HHMM` or `+HH` as seconds east of UTC.
        mutating func offset() -> Int64? {
            guard index < bytes.count else { return nil }
            let sign: Int64
            switch bytes[index] {
            case UInt8(ascii: "+"): sign = 1
            case UInt8(ascii: "-"): sign = -1
            default: return nil
            }
            index += 1
            guard let hours = number(maxDigits: 2), hours.digits == 2 else { return nil }
            _ = take(UInt8(ascii: ":"))
            let minutes = number(maxDigits: 2)?.value ?? 0
            return sign * Int64(hours.value * 3600 + minutes * 60)
        }
    }
}
