/// An entry of a ``BinaryHeap``: `before(a, b)` is true when `a` must leave the heap before `b`
/// (a strict weak order).
protocol HeapOrdered {
    static func before(_ a: Self, _ b: Self) -> Bool
}

/// The one priority queue of the tokenizers (BPE encoding's merge candidates, the trainer's pair
/// counts): an array-backed binary heap whose ``pop()`` returns an entry no other entry is
/// ``HeapOrdered/before(_:_:)``. Push and pop are O(log n): a push sifts the new last entry up,
/// a pop moves the last entry to the root and sifts it down.
struct BinaryHeap<Entry: HeapOrdered> {
    private var items: [Entry] = []

    mutating func reserve(_ n: Int) { items.reserveCapacity(n) }

    mutating func push(_ e: Entry) {
        items.append(e)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if !Entry.before(items[c], items[p]) { break }
            items.swapAt(c, p)
            c = p
        }
    }

    /// Removes and returns the first entry (nil when empty).
    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var p = 0
        let n = items.count
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < n && Entry.before(items[l], items[m]) { m = l }
            if r < n && Entry.before(items[r], items[m]) { m = r }
            if m == p { break }
            items.swapAt(p, m)
            p = m
        }
        return first
    }
}
