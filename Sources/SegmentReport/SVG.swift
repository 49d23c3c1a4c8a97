import Foundation

/// A small SVG writer: every text and attribute value is escaped, every number written with a
/// fixed precision, so the output is well-formed XML by construction.
struct SVG {
    let width: Double
    let height: Double
    private(set) var parts: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            // Characters XML 1.0 does not allow (control characters other than tab and newlines).
            case _ where ch.value < 0x20 && ch != "\t" && ch != "\n" && ch != "\r": out += " "
            case _ where (0xFFFE...0xFFFF).contains(ch.value): out += " "
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let text = String(format: "%.2f", value)
        return text.hasSuffix(".00") ? String(text.dropLast(3)) : text
    }

    /// ` name="value"` pairs; nil values are left out.
    private static func attributes(_ pairs: [(String, String?)]) -> String {
        pairs.compactMap { name, value in value.map { " \(name)=\"\(escape($0))\"" } }.joined()
    }

    mutating func rect(
        x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil,
        cssClass: String? = nil, title: String? = nil
    ) {
        let attrs = Self.attributes([
            ("x", Self.number(x)), ("y", Self.number(y)), ("width", Self.number(max(0, width))),
            ("height", Self.number(max(0, height))), ("fill", fill), ("stroke", stroke),
            ("class", cssClass),
        ])
        parts.append(
            title.map { "<rect\(attrs)><title>\(Self.escape($0))</title></rect>" }
                ?? "<rect\(attrs)/>")
    }

    mutating func line(
        x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1,
        dashed: Bool = false, cssClass: String? = nil
    ) {
        parts.append(
            "<line"
                + Self.attributes([
                    ("x1", Self.number(x1)), ("y1", Self.number(y1)), ("x2", Self.number(x2)),
                    ("y2", Self.number(y2)),
                    ("stroke", stroke), ("stroke-width", Self.number(width)),
                    ("stroke-dasharray", dashed ? "4 3" : nil), ("class", cssClass),
                ]) + "/>")
    }

    mutating func circle(
        x: Double, y: Double, r: Double, fill: String, stroke: String? = nil,
        opacity: Double? = nil,
        cssClass: String? = nil
    ) {
        parts.append(
            "<circle"
                + Self.attributes([
                    ("cx", Self.number(x)), ("cy", Self.number(y)), ("r", Self.number(r)),
                    ("fill", fill), ("stroke", stroke),
                    ("fill-opacity", opacity.map(Self.number)), ("class", cssClass),
                ]) + "/>")
    }

    mutating func path(
        _ d: String, stroke: String, fill: String = "none", width: Double = 1.5,
        dashed: Bool = false, opacity: Double? = nil, cssClass: String? = nil,
        title: String? = nil
    ) {
        let attrs = Self.attributes([
            ("d", d), ("stroke", stroke), ("fill", fill),
            ("stroke-width", Self.number(width)),
            ("stroke-dasharray", dashed ? "5 3" : nil),
            ("fill-opacity", opacity.map(Self.number)), ("class", cssClass),
        ])
        parts.append(
            title.map { "<path\(attrs)><title>\(Self.escape($0))</title></path>" }
                ?? "<path\(attrs)/>")
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(
        _ content: String, x: Double, y: Double, size: Double = 11, anchor: Anchor = .start,
        weight: String? = nil, fill: String = "#222", rotate: Bool = false, cssClass: String? = nil
    ) {
        parts.append(
            "<text"
                + Self.attributes([
                    ("x", Self.number(x)), ("y", Self.number(y)), ("font-size", Self.number(size)),
                    ("text-anchor", anchor.rawValue),
                    ("font-weight", weight), ("fill", fill), ("class", cssClass),
                    ("transform", rotate ? "rotate(-90 \(Self.number(x)) \(Self.number(y)))" : nil),
                ]) + ">\(Self.escape(content))</text>")
    }

    /// The whole element; `label` is its accessible name.
    func render(label: String, id: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(Self.escape(id))\" role=\"img\" aria-label=\"\(Self.escape(label))\" "
            + "viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\">"
            + parts.joined() + "</svg>"
    }
}

/// A linear (or log1p) map from data values to pixels, with readable ticks.
struct Scale {
    var domain: (Double, Double)
    var range: (Double, Double)
    /// log(1 + x): for features the model log-transforms (monetary values span magnitudes).
    var log1p = false

    private func forward(_ v: Double) -> Double { log1p ? Foundation.log1p(max(0, v)) : v }

    func callAsFunction(_ value: Double) -> Double {
        let (a, b) = (forward(domain.0), forward(domain.1))
        guard b > a else { return (range.0 + range.1) / 2 }
        return range.0 + (forward(value) - a) / (b - a) * (range.1 - range.0)
    }

    /// About `count` round values inside the domain (1, 2 or 5 times a power of ten; powers of
    /// ten on a log scale).
    func ticks(_ count: Int = 5) -> [Double] {
        let (low, high) = domain
        guard high > low, low.isFinite, high.isFinite else { return [low] }
        if log1p {
            // 1, 2 and 5 times each power of ten while that leaves a readable number of ticks,
            // so a range like 1...374 days has ticks above 100 too (200), not only 1, 10, 100.
            var powers: [Double] = [], fine: [Double] = []
            var power = 1.0
            while power <= high {
                for multiple in [1.0, 2, 5]
                where power * multiple >= low && power * multiple <= high {
                    fine.append(power * multiple)
                    if multiple == 1 { powers.append(power) }
                }
                power *= 10
            }
            let chosen = fine.count <= 9 ? fine : powers
            return (low <= 0 ? [0] : []) + chosen
        }
        let raw = (high - low) / Double(max(1, count))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var ticks: [Double] = []
        var value = (low / step).rounded(.up) * step
        while value <= high + step * 1e-9 {
            // 0.6, not 0.6000000000000001: ticks are labels.
            ticks.append(
                abs(value) < step * 1e-9 ? 0 : Double(String(format: "%.10g", value)) ?? value)
            value += step
        }
        return ticks
    }
}

/// Colour-blind-safe colours: Okabe and Ito's eight, then Paul Tol's muted set, in an order that
/// keeps neighbours distinct (16 segments before a colour repeats; the default k rule allows 8).
enum Palette {
    static let colours = [
        "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#666666",
        "#332288", "#DDCC77", "#117733", "#CC6677", "#88CCEE", "#882255", "#44AA99", "#999933",
    ]

    /// Black or white, whichever reads better on a fill ("#RRGGBB"), by relative luminance.
    static func ink(on fill: String) -> String {
        let hex = fill.dropFirst()
        guard hex.count == 6, let value = UInt32(hex, radix: 16) else { return "#111111" }
        func channel(_ shift: UInt32) -> Double {
            let c = Double((value >> shift) & 0xFF) / 255
            return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        let luminance = 0.2126 * channel(16) + 0.7152 * channel(8) + 0.0722 * channel(0)
        // Contrast with black (L + 0.05) / 0.05 against white 1.05 / (L + 0.05).
        return (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? "#111111" : "#FFFFFF"
    }

    /// The 16 listed colours, then hues 137.5 degrees apart (the golden angle) in two lightnesses,
    /// so no two of a model's segments share a colour however many there are.
    static func colour(_ index: Int) -> String {
        let index = max(0, index)
        if index < colours.count { return colours[index] }
        let n = index - colours.count
        let hue = (Double(n) * 137.508).truncatingRemainder(dividingBy: 360)
        return hsl(hue, saturation: 0.6, lightness: n % 2 == 0 ? 0.42 : 0.62)
    }

    /// "#RRGGBB" for a hue in degrees, saturation and lightness in 0...1.
    static func hsl(_ hue: Double, saturation: Double, lightness: Double) -> String {
        let c = (1 - abs(2 * lightness - 1)) * saturation
        let h = hue / 60, x = c * (1 - abs(h.truncatingRemainder(dividingBy: 2) - 1))
        let (r, g, b): (Double, Double, Double) =
            switch Int(h) {
            case 0: (c, x, 0)
            case 1: (x, c, 0)
            case 2: (0, c, x)
            case 3: (0, x, c)
            case 4: (x, 0, c)
            default: (c, 0, x)
            }
        let m = lightness - c / 2
        return String(
            format: "#%02X%02X%02X", Int(((r + m) * 255).rounded()), Int(((g + m) * 255).rounded()),
            Int(((b + m) * 255).rounded()))
    }

    /// Blue (low) through white to orange (high), for z-scores in -2...2.
    static func diverging(_ z: Double) -> String {
        let t = max(-1, min(1, z / 2))
        let (r, g, b): (Double, Double, Double) =
            t < 0
            // toward #2166AC
            ? (255 + t * (255 - 33), 255 + t * (255 - 102), 255 + t * (255 - 172))
            : (255 - t * (255 - 230), 255 - t * (255 - 97), 255 - t * (255 - 1))  // toward #E66101
        return String(format: "#%02X%02X%02X", Int(r.rounded()), Int(g.rounded()), Int(b.rounded()))
    }

    /// Light to dark blue for counts (0...1 of the largest).
    static func sequential(_ t: Double) -> String {
        let u = max(0, min(1, t))
        let (r, g, b) = (247 - u * (247 - 8), 251 - u * (251 - 69), 255 - u * (255 - 148))
        return String(format: "#%02X%02X%02X", Int(r.rounded()), Int(g.rounded()), Int(b.rounded()))
    }
}
