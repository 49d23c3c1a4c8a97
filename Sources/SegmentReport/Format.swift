import Foundation

/// Numbers as people read them: 1.2k customers, 35%, 1,234.
public enum Format {
    /// 950, 1.2k, 35k, 1.2M.
    public static func compact(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        let magnitude = abs(value)
        switch magnitude {
        case 1e9...: return trimmed(value / 1e9, digits: 1) + "B"
        case 1e6...: return trimmed(value / 1e6, digits: 1) + "M"
        case 1e4...: return trimmed(value / 1e3, digits: 0) + "k"
        case 1e3...: return trimmed(value / 1e3, digits: 1) + "k"
        case 100...: return String(format: "%.0f", value)
        case 10...: return trimmed(value, digits: 1)
        case 0: return "0"
        default: return trimmed(value, digits: 2)
        }
    }

    /// 1,234 for large values, 56.7 / 0.85 for small ones.
    public static func amount(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        guard abs(value) < 1e15 else { return String(format: "%.3g", value) }
        if abs(value) >= 1000 { return grouped(Int(value.rounded())) }
        // Rounded half away from zero first, as the segment descriptions round (printf rounds half to even).
        if abs(value) >= 100 { return String(format: "%.0f", value.rounded()) }
        if abs(value) >= 10 { return String(format: "%.1f", (value * 10).rounded() / 10) }
        return String(format: "%.2f", (value * 100).rounded() / 100)
    }

    /// A clustering feature's value as the segment descriptions write it: days and purchases as
    /// whole numbers with their unit, money and other measures as amounts.
    public static func feature(_ name: String, _ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return amount(value) }
        let whole = Int(value.rounded())
        switch name {
        case "recency", "tenure": return "\(grouped(whole)) day\(whole == 1 ? "" : "s")"
        case "frequency": return "\(grouped(whole)) purchase\(whole == 1 ? "" : "s")"
        case "distinct_products": return "\(grouped(whole)) product\(whole == 1 ? "" : "s")"
        default: return amount(value)
        }
    }

    /// 1,234,567.
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// 35%, 0.4%, <0.1%.
    public static func percent(_ share: Double) -> String {
        guard share.isFinite else { return "n/a" }
        let p = share * 100
        if p > 0 && p < 0.1 { return "<0.1%" }
        return p < 10 && p != p.rounded()
            ? String(format: "%.1f%%", p) : String(format: "%.0f%%", p)
    }

    /// 0.412.
    public static func score(_ value: Double) -> String {
        value.isFinite ? String(format: "%.3f", value) : "n/a"
    }

    private static func trimmed(_ value: Double, digits: Int) -> String {
        var text = String(format: "%.\(digits)f", value)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }
}
