import Foundation
import SegmentationMapping

/// AIP-158 paging: `page_size` (0: 50, at most 1000) and an opaque `page_token` naming where the
/// previous page ended. The token carries the list it came from and that list's filter, so a
/// token used with another list or another filter is refused rather than silently misread. It
/// holds the last item's sort key (not an offset), so items added or deleted between pages
/// neither repeat nor vanish from the pages still to come.
struct PageRequest {
    static let defaultSize = 50
    static let maximumSize = 1000

    let size: Int
    /// The sort key of the last item of the previous page; nil: the first page.
    let after: String?
    private let list: String
    private let scope: String

    /// `list` names the RPC's list ("models"); `scope` its filter (a model name), if any.
    init(size: Int32, token: String, list: String, scope: String = "") throws {
        guard size >= 0 else {
            throw InvalidField("page_size", "page_size must not be negative, got \(size)")
        }
        self.size = size == 0 ? Self.defaultSize : min(Int(size), Self.maximumSize)
        self.list = list
        self.scope = scope
        guard !token.isEmpty else { after = nil; return }
        guard token.utf8.count <= 512, let data = Data(base64Encoded: Self.padded(token)),
            let text = String(data: data, encoding: .utf8)
        else {
            throw InvalidField(
                "page_token",
                "page_token is not a token this server issued; start again with an empty page_token"
            )
        }
        let parts = text.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false).map(
            String.init)
        guard parts.count == 4, parts[0] == "p1", parts[1] == list, parts[2] == scope else {
            throw InvalidField(
                "page_token",
                "page_token belongs to another list or filter; send the same request as the one that returned it"
            )
        }
        after = parts[3]
    }

    /// One page of `all` (already in the list's order), and the token for the next, empty when
    /// this page is the last. `isAfter(item, key)`: the item comes after the key in that order.
    func page<Item>(
        _ all: [Item], key: (Item) -> String, isAfter: (Item, String) -> Bool
    ) -> (items: [Item], nextToken: String) {
        let start = after.map { key in all.firstIndex { isAfter($0, key) } ?? all.count } ?? 0
        let end = min(start + size, all.count)
        let items = Array(all[start..<end])
        return (items, end < all.count ? token(after: key(items[items.count - 1])) : "")
    }

    /// The token whose page starts after `key`.
    func token(after key: String) -> String {
        Data("p1\n\(list)\n\(scope)\n\(key)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func padded(_ token: String) -> String {
        let standard = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(
            of: "_", with: "/")
        return standard + String(repeating: "=", count: (4 - standard.count % 4) % 4)
    }
}
