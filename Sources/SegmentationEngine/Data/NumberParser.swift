import Foundation

/// Parses decimal numbers straight from bytes.
///
/// Plain decimals with at most 15 significant digits and a small exponent (nearly every price
/// and quantity) take an exact fast path: the mantissa and the power of ten are both exact
/// doubles, so one division is correctly rounded (Clinger). Everything else goes to `strtod`.
/// Only finite numbers are accepted: "nan", "inf", hex floats and trailing text are rejected.
enum NumberParser {
    private static let powersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        var start = 0, end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        guard start < end else { return nil }
        if let fast = parseSimple(bytes, start, end) { return fast }
        return parseSlow(bytes, start, end)
    }

    static func parse(_ text: String) -> Double? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    @inline(__always) private static func isSpace(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "\t")
    }

    /// `[+-]digits[.digits]`, at most 15 significant digits.
    private static func parseSimple(
        _ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int
    ) -> Double? {
        var i = start
        var negative = false
        if bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-"); i += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0, fractionDigits = 0
        var sawDigit = false, sawPoint = false
        while i < end {
            let b = bytes[i]
            if b >= 48 && b <= 57 {
                sawDigit = true
                if mantissa == 0 && b == 48 {
                    if sawPoint { fractionDigits += 1 }; i += 1; continue
                }
                mantissa = mantissa * 10 + UInt64(b - 48)
                digits += 1
                if sawPoint { fractionDigits += 1 }
                if digits > 15 { return nil }
            } else if b == UInt8(ascii: ".") && !sawPoint {
                sawPoint = true
            } else {
                return nil
            }
            i += 1
        }
        guard sawDigit, fractionDigits <= 22 else { return nil }
        let value = Double(mantissa) / powersOfTen[fractionDigits]
        return negative ? -value : value
    }

    private static func parseSlow(
        _ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int
    ) -> Double? {
        // Only decimal syntax: digits, sign, point, exponent.
        for k in start..<end {
            switch bytes[k] {
            case 48...57, UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "+"),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                continue
            default: return nil
            }
        }
        var text = [CChar](repeating: 0, count: end - start + 1)
        for k in start..<end { text[k - start] = CChar(bitPattern: bytes[k]) }
        return text.withUnsafeBufferPointer { pointer -> Double? in
            var stop: UnsafeMutablePointer<CChar>?
            let value = strtod(pointer.baseAddress!, &stop)
            guard let stop,
                stop - UnsafeMutablePointer(mutating: pointer.baseAddress!) == end - start,
                value.isFinite
            else { return nil }
            return value
        }
    }
}
