#include "llm/offline_generator.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <sstream>

namespace storyloom::detail {
namespace {

// splitmix64: a tiny PRNG that behaves the same on every platform.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  template <size_t N>
  const char* pick(const char* const (&bank)[N]) {
    return bank[next() % N];
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }

 private:
  uint64_t state_;
};

uint64_t fnv1a(const std::string& text, uint64_t hash = 1469598103934665603ull) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

constexpr const char* kOpenings[] = {"At first light",
                                     "Just past the old bridge",
                                     "Before anyone noticed",
                                     "Later that evening",
                                     "In the quiet between two waves",
                                     "Without a word",
                                     "Far above the rooftops",
                                     "When the wind turned"};
constexpr const char* kSubjects[] = {
    "a small grey owl",  "the baker's daughter",      "an unhurried tortoise", "the lantern keeper",
    "a lost paper boat", "the youngest of the twins", "an old fisherman",      "a curious fox"};
constexpr const char* kVerbs[] = {"followed",      "whispered to",  "carefully mended",
                                  "laughed at",    "waited beside", "went looking for",
                                  "dreamed about", "found"};
constexpr const char* kClosings[] = {
    "and nothing was quite the same", "as the kettle began to sing",
    "and the river listened",         "while the stars came out one by one",
    "and somewhere a bell rang",      "as if it had always been so"};
constexpr const char* kObjects[] = {"the crooked chimney", "an unopened letter",
                                    "the edge of the map", "a jar of summer light",
                                    "the last green door", "a song nobody remembered"};
constexpr const char* kStopWords[] = {
    "about",    "after",        "again",       "answer",     "because",  "before",    "being",
    "could",    "every",        "exactly",     "from",       "have",     "into",      "just",
    "more",     "most",         "nothing",     "only",       "other",    "page",      "pages",
    "sentence", "sentences",    "should",      "some",       "text",     "than",      "that",
    "their",    "them",         "then",        "there",      "these",    "this",      "those",
    "three",    "through",      "under",       "very",       "what",     "when",      "where",
    "which",    "while",        "with",        "word",       "words",    "would",     "write",
    "your",     "form",         "line",        "each",       "one",      "two",       "apply",
    "applying", "critique",     "revise",      "revised",    "revision", "plan",      "plans",
    "story",    "title",        "style",       "brief",      "picture",  "shows",     "without",
    "first",    "single",       "useful",      "change",     "ending",   "paragraph", "book",
    "visual",   "illustration", "illustrated", "characters", "setting",  "action",    "mood",
    "else",     "following",    "here",        "round",      "please"};

bool is_stop_word(const std::string& w) {
  for (const char* s : kStopWords) {
    if (w == s) return true;
  }
  return false;
}

// Lowercase words of four letters or more, in order of first appearance.
std::vector<std::string> content_words(const std::string& text, size_t limit) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (word.size() >= 4 && !is_stop_word(word) &&
        std::find(out.begin(), out.end(), word) == out.end() && out.size() < limit) {
      out.push_back(word);
    }
    word.clear();
  };
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

int64_t word_count(const std::string& text) {
  std::istringstream in(text);
  int64_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

// What the prompt is about: the words after its first " about ", up to the
// end of that clause ("a lighthouse keeper who befriends a storm").
std::string topic_phrase(const std::string& prompt) {
  size_t at = prompt.find(" about ");
  if (at == std::string::npos) return {};
  size_t start = at + 7;
  size_t end = prompt.find_first_of(".,;:!?\n\"", start);
  if (end == std::string::npos) end = prompt.size();
  for (const char* stop : {" in exactly ", " in ", " for "}) {
    size_t cut = prompt.find(stop, start);
    if (cut != std::string::npos && cut < end) end = cut;
  }
  std::string phrase = prompt.substr(start, end - start);
  while (!phrase.empty() && phrase.back() == ' ') phrase.pop_back();
  return word_count(phrase) <= 10 ? phrase : std::string();
}

// How many sentences the prompt asks for ("two or three sentences"), or 0.
size_t sentences_asked(const std::string& prompt) {
  static constexpr const char* kNumbers[] = {"one", "two", "three", "four", "five", "six"};
  size_t at = prompt.find(" sentence");
  if (at == std::string::npos) return 0;
  std::string before = prompt.substr(0, at);
  for (size_t n = 6; n >= 1; --n) {
    std::string word = kNumbers[n - 1];
    if (before.size() >= word.size() &&
        before.compare(before.size() - word.size(), word.size(), word) == 0) {
      return n;
    }
  }
  return 0;
}

std::string sentence(Random& random, const std::vector<std::string>& topic) {
  std::string object = random.pick(kObjects);
  if (!topic.empty() && random.below(3) != 0) {
    const std::string& pick = topic[random.below(topic.size())];
    // A whole phrase keeps its own article ("a lighthouse keeper who ...").
    object = pick.find(' ') != std::string::npos ? pick : "the " + pick;
  }
  return std::string(random.pick(kOpenings)) + ", " + random.pick(kSubjects) + " " +
         random.pick(kVerbs) + " " + object + ", " + random.pick(kClosings) + ".";
}

std::string title(Random& random, const std::string& phrase,
                  const std::vector<std::string>& topic) {
  static constexpr const char* kForms[] = {"The Tale of ", "A Song for ", "The Night of ",
                                           "Once There Was "};
  if (!phrase.empty()) return std::string(random.pick(kForms)) + phrase;
  std::string noun = topic.empty() ? "Lantern" : topic[random.below(topic.size())];
  noun[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(noun[0])));
  return std::string(random.pick(kForms)) + "the " + noun;
}

// A few words, for form lines that ask for no more ("a few words").
std::string short_phrase(Random& random) {
  static constexpr const char* kFirst[] = {"soft", "bright", "quiet", "warm", "misty", "bold"};
  static constexpr const char* kSecond[] = {"watercolour", "ink and wash", "gouache",
                                            "pencil",      "linocut",      "pastel"};
  return std::string(random.pick(kFirst)) + " " + random.pick(kSecond);
}

struct FormLine {
  std::string label;        // "TITLE", "PAGE 2"
  std::string description;  // what goes there
};

// Lines of the form "LABEL: <what to write>" in the prompt.
std::vector<FormLine> answer_form(const std::string& prompt) {
  std::vector<FormLine> out;
  std::istringstream in(prompt);
  for (std::string line; std::getline(in, line);) {
    size_t colon = line.find(": <");
    if (colon == std::string::npos || colon == 0 || line.back() != '>') continue;
    std::string label = line.substr(0, colon);
    bool upper = std::all_of(label.begin(), label.end(), [](char c) {
      return std::isupper(static_cast<unsigned char>(c)) ||
             std::isdigit(static_cast<unsigned char>(c)) || c == ' ' || c == '_';
    });
    if (!upper || label.size() > 32) continue;
    out.push_back({label, line.substr(colon + 3, line.size() - colon - 4)});
  }
  return out;
}

// Splits text into words with the spacing before each, as a model streams it.
std::vector<std::string> pieces_of(const std::string& text) {
  std::vector<std::string> out;
  std::string piece;
  for (char c : text) {
    if ((c == ' ' || c == '\n') && !piece.empty() && piece.back() != ' ' && piece.back() != '\n') {
      out.push_back(piece);
      piece.clear();
    }
    piece += c;
  }
  if (!piece.empty()) out.push_back(piece);
  return out;
}

}  // namespace

OfflineText offline_text(const LlmRequest& request) {
  std::string all;
  std::string last_user;
  for (const auto& m : request.messages) {
    all += m.role + '\n' + m.content + '\n';
    if (m.role == "user") last_user = m.content;
  }
  Random random(fnv1a(all, fnv1a(request.model)));
  std::string phrase = topic_phrase(last_user);
  std::vector<std::string> topic = content_words(phrase.empty() ? last_user : phrase, 12);
  if (!phrase.empty()) topic.push_back(phrase);
  // Roughly a word per 1.3 tokens, as English text runs; short answers stay short.
  size_t budget = static_cast<size_t>(std::max(8, request.max_tokens * 3 / 4));
  std::string text;
  if (auto form = answer_form(last_user); !form.empty()) {
    for (const auto& line : form) {
      std::vector<std::string> local = content_words(line.description, 6);
      local.insert(local.end(), topic.begin(), topic.end());
      bool is_title = line.label.find("TITLE") != std::string::npos;
      bool brief = line.description.find("few words") != std::string::npos;
      text += line.label + ": " +
              (is_title ? title(random, phrase, topic)
               : brief  ? short_phrase(random)
                        : sentence(random, local)) +
              "\n";
    }
    if (!text.empty()) text.pop_back();
  } else if (size_t asked = sentences_asked(last_user); asked > 0) {
    for (size_t i = 0; i < asked; ++i) text += (i ? " " : "") + sentence(random, topic);
  } else {
    size_t words = std::min<size_t>(budget, 60 + random.below(60));
    while (static_cast<size_t>(word_count(text)) + 4 < words) {
      if (!text.empty()) text += ' ';
      text += sentence(random, topic);
    }
  }
  // Never more words than max_tokens allows, as a model stops at its limit.
  std::vector<std::string> pieces = pieces_of(text);
  bool truncated = pieces.size() > budget;
  if (truncated) pieces.resize(budget);
  return OfflineText{std::move(pieces), word_count(all), truncated};
}

}  // namespace storyloom::detail
