// A subword tokenizer learned from caption words by byte-pair encoding (Sennrich et al.
// 2016): every word starts as its characters plus an end-of-word marker, and the most frequent
// adjacent pair is merged (ties: the lexicographically smallest) until the vocabulary has
// `size` entries or nothing repeats. Encoding applies the merges in the order they were
// learned, so an unseen word falls apart into known pieces ("surfboarding" -> "surf",
// "board", "ing</w>"); a character never seen is the unknown token. Never an error.
#ifndef DIFFUSE_MODELS_SUBWORD_TOKENIZER_H_
#define DIFFUSE_MODELS_SUBWORD_TOKENIZER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace diffuse {

class SubwordTokenizer {
 public:
  // Learns from `words` (each counted once per occurrence; case-folded, letters, digits and
  // apostrophes). `size` counts the pieces, including the unknown token (id 0).
  SubwordTokenizer(const std::vector<std::string>& words, int64_t size);

  int64_t size() const { return static_cast<int64_t>(pieces_.size()); }
  // Piece i; a piece ending a word ends with "</w>". Id 0 is "<unk>".
  const std::string& piece(int64_t id) const { return pieces_[id]; }
  // The words of `text` (lower-cased runs of letters, digits and apostrophes) as piece ids.
  std::vector<int64_t> Encode(absl::string_view text) const;
  // The words back, separated by spaces (unknown characters as "<unk>").
  std::string Decode(const std::vector<int64_t>& ids) const;
  // The words of `text`, as Encode splits them.
  static std::vector<std::string> Words(absl::string_view text);

 private:
  std::vector<std::string> EncodeWord(const std::string& word) const;

  std::vector<std::string> pieces_;
  std::map<std::string, int64_t> ids_;
  std::map<std::pair<std::string, std::string>, int> merge_rank_;
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_SUBWORD_TOKENIZER_H_
