#include "models/subword_tokenizer.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace diffuse {
namespace {

constexpr char kEnd[] = "</w>";
constexpr char kUnknown[] = "<unk>";

// A word as its symbols: characters, the last one carrying the end-of-word marker.
std::vector<std::string> Symbols(const std::string& word) {
  std::vector<std::string> symbols;
  for (char c : word) symbols.push_back(std::string(1, c));
  symbols.back() += kEnd;
  return symbols;
}

}  // namespace

std::vector<std::string> SubwordTokenizer::Words(absl::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '\'') {
      word += absl::ascii_tolower(u);
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

SubwordTokenizer::SubwordTokenizer(const std::vector<std::string>& words, int64_t size) {
  // Word frequencies over the normalized words.
  std::map<std::string, int> counts;
  for (const std::string& text : words) {
    for (const std::string& w : Words(text)) ++counts[w];
  }
  pieces_.push_back(kUnknown);
  std::set<std::string> alphabet;
  for (const auto& [w, n] : counts) {
    for (const std::string& s : Symbols(w)) alphabet.insert(s);
  }
  for (const std::string& s : alphabet) pieces_.push_back(s);
  for (size_t i = 0; i < pieces_.size(); ++i) ids_[pieces_[i]] = static_cast<int64_t>(i);
  // The corpus as piece ids; a pair (a, b) is the key a * 2^32 + b.
  std::vector<std::pair<std::vector<int64_t>, int>> corpus;
  for (const auto& [w, n] : counts) {
    std::vector<int64_t> ids;
    for (const std::string& s : Symbols(w)) ids.push_back(ids_[s]);
    corpus.push_back({std::move(ids), n});
  }
  while (static_cast<int64_t>(pieces_.size()) < size) {
    std::unordered_map<int64_t, int> pairs;
    for (const auto& [ids, n] : corpus) {
      for (size_t i = 0; i + 1 < ids.size(); ++i) pairs[(ids[i] << 32) + ids[i + 1]] += n;
    }
    // The most frequent pair; ties go to the lexicographically smallest (deterministic).
    int64_t best = -1;
    int best_count = 0;
    for (const auto& [pair, n] : pairs) {
      if (n > best_count ||
          (n == best_count &&
           std::make_pair(pieces_[pair >> 32], pieces_[pair & 0xffffffff]) <
               std::make_pair(pieces_[best >> 32], pieces_[best & 0xffffffff]))) {
        best = pair;
        best_count = n;
      }
    }
    if (best_count < 2) break;  // nothing repeats: more merges would only memorize words
    const int64_t a = best >> 32, b = best & 0xffffffff;
    merge_rank_[{pieces_[a], pieces_[b]}] = static_cast<int>(merge_rank_.size());
    // Two merge paths may spell the same piece ("ab" + "c</w>", "a" + "bc</w>"): one id.
    const std::string spelled = pieces_[a] + pieces_[b];
    auto [at, added] = ids_.emplace(spelled, static_cast<int64_t>(pieces_.size()));
    if (added) pieces_.push_back(spelled);
    const int64_t merged_id = at->second;
    for (auto& [ids, n] : corpus) {
      std::vector<int64_t> merged;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i + 1 < ids.size() && ids[i] == a && ids[i + 1] == b) {
          merged.push_back(merged_id);
          ++i;
        } else {
          merged.push_back(ids[i]);
        }
      }
      ids = std::move(merged);
    }
  }
}

std::vector<std::string> SubwordTokenizer::EncodeWord(const std::string& word) const {
  std::vector<std::string> symbols = Symbols(word);
  // Apply the learned merges, earliest first, as training did.
  while (symbols.size() > 1) {
    int best_rank = -1;
    size_t best_at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merge_rank_.find({symbols[i], symbols[i + 1]});
      if (it != merge_rank_.end() && (best_rank < 0 || it->second < best_rank)) {
        best_rank = it->second;
        best_at = i;
      }
    }
    if (best_rank < 0) break;
    symbols[best_at] += symbols[best_at + 1];
    symbols.erase(symbols.begin() + best_at + 1);
  }
  return symbols;
}

std::vector<int64_t> SubwordTokenizer::Encode(absl::string_view text) const {
  std::vector<int64_t> ids;
  for (const std::string& word : Words(text)) {
    for (const std::string& symbol : EncodeWord(word)) {
      auto it = ids_.find(symbol);
      ids.push_back(it == ids_.end() ? 0 : it->second);
    }
  }
  return ids;
}

std::string SubwordTokenizer::Decode(const std::vector<int64_t>& ids) const {
  std::string text;
  for (int64_t id : ids) {
    std::string piece = id > 0 && id < size() ? pieces_[id] : std::string(kUnknown);
    const bool end = absl::EndsWith(piece, kEnd);
    if (end) piece = std::string(absl::StripSuffix(piece, kEnd));
    text += piece;
    if (end) text += ' ';
  }
  return std::string(absl::StripTrailingAsciiWhitespace(text));
}

}  // namespace diffuse
