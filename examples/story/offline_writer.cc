#include "offline_writer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

namespace story {
namespace {

// Fixed, so every machine writes the same story for the same topic.
constexpr uint64_t kSeed = 0x5709'100Du;
constexpr size_t kMinPageChars = 360;

// FNV-1a: a stable hash (std::hash may differ between standard libraries).
uint64_t fnv1a(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3u;
  }
  return h;
}

// splitmix64: a tiny PRNG whose sequence is the same everywhere (the standard
// distributions are not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }
  template <typename T, size_t N>
  const T& pick(const std::array<T, N>& items) {
    return items[next() % N];
  }

 private:
  uint64_t state_;
};

Random random_for(std::string_view topic, int page) {
  return Random(kSeed ^ fnv1a(topic) ^ (static_cast<uint64_t>(page) * 0x9e3779b97f4a7c15u));
}

enum class Stage { opening, middle, turn, ending };

Stage stage_of(int page, int pages) {
  if (page == 1) return Stage::opening;
  if (page == pages) return Stage::ending;
  if (pages >= 4 && page == pages - 1) return Stage::turn;
  return Stage::middle;
}

using Slots = std::vector<std::pair<std::string_view, std::string>>;

// Replaces every {name} in `pattern` with its value; a sentence starts with a capital.
std::string fill(std::string_view pattern, const Slots& slots, bool sentence = true) {
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    size_t close = pattern[i] == '{' ? pattern.find('}', i) : std::string_view::npos;
    if (close != std::string_view::npos) {
      std::string_view name = pattern.substr(i + 1, close - i - 1);
      auto it = std::find_if(slots.begin(), slots.end(),
                             [&](const auto& slot) { return slot.first == name; });
      if (it != slots.end()) {
        out += it->second;
        i = close + 1;
        continue;
      }
    }
    out += pattern[i++];
  }
  if (sentence && !out.empty()) {
    out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  }
  return out;
}

// Capitalizes words except short ones; fill() capitalizes the first word of a title.
std::string title_case(std::string_view text) {
  static const std::array<std::string_view, 12> small = {"a",  "an", "the", "of", "and", "or",
                                                         "in", "on", "at",  "to", "by",  "for"};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    size_t end = text.find(' ', i);
    if (end == std::string_view::npos) end = text.size();
    std::string w(text.substr(i, end - i));
    bool keep_small = std::find(small.begin(), small.end(), w) != small.end();
    if (!w.empty() && !keep_small) {
      w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
    }
    if (!out.empty()) out += ' ';
    out += w;
    i = end + 1;
  }
  return out;
}

constexpr std::array<std::string_view, 4> kTitles = {
    "The Tale of {Topic}", "Once There Was {Topic}", "{Topic}: A Story in {pages} Pages",
    "A Book About {Topic}"};
constexpr std::array<std::string_view, 4> kPlaces = {
    "by the grey sea", "at the edge of a sleepy town", "beneath a wide, restless sky",
    "on a hill where the wind never rests"};
constexpr std::array<std::string_view, 4> kTimes = {"in the early morning", "as evening fell",
                                                    "late one night", "just after the rain"};
constexpr std::array<std::string_view, 4> kColours = {"silver", "golden", "deep blue", "rose-gold"};
constexpr std::array<std::string_view, 4> kSounds = {
    "the hum of the waves", "a distant bell", "the creak of old wood", "a whisper in the chimney"};
constexpr std::array<std::string_view, 4> kObjects = {"a brass lantern", "a folded map",
                                                      "a red scarf", "a chipped teacup"};
constexpr std::array<std::string_view, 4> kArtStyles = {
    "A soft watercolour", "A pencil-and-ink sketch", "A bright gouache painting",
    "A dreamy pastel drawing"};

struct StageText {
  std::string_view plan;
  std::string_view scene;
  std::array<std::string_view, 2> first;  // the page's opening sentence, one of
  std::string_view last;                  // the page's closing sentence
};

const StageText& stage_text(Stage stage) {
  static const StageText opening{
      "Meet {topic} and the quiet place where the story begins.",
      "{topic}, {place}, {time}",
      {"{time}, {place}, there lived {topic}.", "This is the story of {topic}, who lived {place}."},
      "And that was how it all began."};
  static const StageText middle{
      "Something unexpected arrives, and {topic} has to decide what to do.",
      "{topic} holding {object} while {sound} fills the air",
      {"{time}, something changed: {sound} grew louder, and it would not stop.",
       "Nobody else noticed {object}, but it was there, and it mattered."},
      "Tomorrow, perhaps, things would make more sense."};
  static const StageText turn{
      "The trouble is at its worst, and one small act of courage changes everything.",
      "{topic} standing firm as the sky turns {colour}",
      {"Then the hardest moment came, and the whole world seemed to hold its breath.",
       "{time}, everything that could go wrong went wrong at once."},
      "It was brave, and it was enough."};
  static const StageText ending{
      "Everything settles, and {topic} sees the world a little differently.",
      "{topic} at peace, {place}, under a {colour} sky",
      {"In the end, the storm of the story passed, as storms do.",
       "{time}, the world was quiet again, and kinder than before."},
      "The end."};
  switch (stage) {
    case Stage::opening:
      return opening;
    case Stage::middle:
      return middle;
    case Stage::turn:
      return turn;
    case Stage::ending:
      return ending;
  }
  return middle;
}

constexpr std::array<std::string_view, 8> kMiddleSentences = {
    "The sky was {colour}, and {sound} drifted through the air.",
    "There was {object} on the table, waiting as if it knew something.",
    "Every small thing seemed to matter more than usual.",
    "{time}, the light turned {colour} and everything felt possible.",
    "A friend might have called it silly, but it did not feel silly at all.",
    "It is strange how a single day can feel as long as a whole year.",
    "Somewhere, {sound} answered, soft and patient.",
    "Nobody could have guessed what would happen next."};

Slots slots_for(std::string_view topic, int pages, Random& random) {
  return {{"topic", std::string(topic)},
          {"Topic", title_case(topic)},
          {"pages", std::to_string(pages)},
          {"place", std::string(random.pick(kPlaces))},
          {"time", std::string(random.pick(kTimes))},
          {"colour", std::string(random.pick(kColours))},
          {"sound", std::string(random.pick(kSounds))},
          {"object", std::string(random.pick(kObjects))}};
}

// The old single-file outline: a plan and a picture per page.
struct PagePlan {
  std::string plan;
  std::string scene;
};

PagePlan plan_page(std::string_view topic, int page, int pages) {
  Random random = random_for(topic, page);
  auto slots = slots_for(topic, pages, random);
  const StageText& stage = stage_text(stage_of(page, pages));
  return PagePlan{fill(stage.plan, slots), fill(stage.scene, slots, false)};
}

std::string art_style(std::string_view topic) {
  Random random = random_for(topic, 0);
  std::string style(random.pick(kArtStyles));
  style[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(style[0])));
  return style.substr(style.find(' ') + 1);  // "soft watercolour", without the article
}

constexpr std::array<std::string_view, 4> kPraise = {
    "The opening sentence sets the scene well.", "The page keeps a gentle, steady rhythm.",
    "The plan for this page is followed closely.", "The language suits young readers."};

struct Suggestion {
  std::string_view advice;    // what the critique asks for
  std::string_view sentence;  // what the revision adds
};

constexpr std::array<Suggestion, 4> kSuggestions = {{
    {"Let the reader hear the place: add one sound.",
     "Far off, {sound} kept time like a patient heart."},
    {"Show what {topic} feels, not only what happens.",
     "Deep inside, a small warm feeling grew, like a lamp being lit."},
    {"End the page on a question that pulls the reader on.",
     "But what would tomorrow bring?"},
    {"Give the page one vivid colour to hold on to.",
     "Everything glowed {colour}, as if the world had been freshly painted."},
}};

const Suggestion& suggestion_for(std::string_view topic, int page, int round) {
  Random random = random_for(topic, page * 16 + round);
  return kSuggestions[random.next() % kSuggestions.size()];
}

}  // namespace

std::string offline_outline(const StoryInput& input) {
  Random random = random_for(input.topic, 0);
  auto slots = slots_for(input.topic, input.pages, random);
  std::string text = "TITLE: " + fill(random.pick(kTitles), slots) + "\n";
  text += "STYLE: " + art_style(input.topic) + "\n";
  for (int page = 1; page <= input.pages; ++page) {
    text += "PAGE " + std::to_string(page) + ": " + plan_page(input.topic, page, input.pages).plan +
            "\n";
  }
  return text;
}

std::string offline_page(const StoryInput& input, int page) {
  int pages = input.pages;
  Random random = random_for(input.topic, page);  // the same place and time as its plan
  auto slots = slots_for(input.topic, pages, random);
  const StageText& stage = stage_text(stage_of(page, pages));

  std::string text = fill(stage.first[random.next() % stage.first.size()], slots);
  // Middle sentences in a shuffled order, so none repeats on a page.
  std::array<size_t, kMiddleSentences.size()> order{};
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[random.next() % (i + 1)]);
  for (size_t i = 0; i < order.size() && text.size() < kMinPageChars; ++i) {
    text += ' ';
    text += fill(kMiddleSentences[order[i]], slots);
  }
  text += ' ';
  text += fill(stage.last, slots);
  return text;
}

std::string offline_critique(const StoryInput& input, int page, int round) {
  Random random = random_for(input.topic, page * 16 + round);
  auto slots = slots_for(input.topic, input.pages, random);
  return std::string(random.pick(kPraise)) + " " +
         fill(suggestion_for(input.topic, page, round).advice, slots);
}

std::string offline_revision(const StoryInput& input, int page, int round, std::string_view draft) {
  Random random = random_for(input.topic, page);
  auto slots = slots_for(input.topic, input.pages, random);
  std::string sentence = fill(suggestion_for(input.topic, page, round).sentence, slots);
  std::string text(draft);
  if (text.find(sentence) == std::string::npos) text += " " + sentence;
  return text;
}

std::string offline_illustration(const StoryInput& input, const std::string& visual_style,
                                 int page) {
  std::string scene = plan_page(input.topic, page, input.pages).scene;
  scene[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(scene[0])));
  return "Picture: " + scene + ". Style: " + visual_style + ".";
}

}  // namespace story
