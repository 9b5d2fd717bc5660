/**
 * Per-creator sets of observation keys (the keys each creator's interesting events already
 * carry, spec §6.3) with O(1) membership and O(1) clearing of every set at once: a key is in a
 * creator's set when its mark equals the current generation.
 */
export class KeyMarks {
  private marks: Int32Array[] = []
  private generation = 1

  has(creator: number, key: number): boolean {
    const marks = this.marks[creator]
    return marks !== undefined && key < marks.length && marks[key] === this.generation
  }

  add(creator: number, key: number): void {
    let marks = this.marks[creator]
    if (marks === undefined || key >= marks.length) {
      const grown = new Int32Array(Math.max(64, (key + 1) * 2))
      if (marks !== undefined) grown.set(marks)
      this.marks[creator] = grown
      marks = grown
    }
    marks[key] = this.generation
  }

  clear(): void {
    this.generation++
  }
}
