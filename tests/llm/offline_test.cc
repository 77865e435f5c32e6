#include <gtest/gtest.h>

#include <algorithm>

#include "llm/offline_generator.h"

namespace storyloom::detail {
namespace {

LlmRequest asking(std::string prompt, int max_tokens = 300) {
  LlmRequest r;
  r.messages = {{"user", std::move(prompt)}};
  r.max_tokens = max_tokens;
  return r;
}

std::string joined(const OfflineText& t) {
  std::string out;
  for (const auto& p : t.pieces) out += p;
  return out;
}

TEST(OfflineText, SameRequestSameWordsOtherRequestOtherWords) {
  auto a = joined(offline_text(asking("A story about a lighthouse keeper")));
  EXPECT_EQ(a, joined(offline_text(asking("A story about a lighthouse keeper"))));
  EXPECT_NE(a, joined(offline_text(asking("A story about a dragon in the snow"))));
  EXPECT_GT(a.size(), 100u);
}

TEST(OfflineText, UsesWordsOfThePrompt) {
  std::string text;
  // Over several seeds the topic shows up: it is built from the prompt.
  for (int i = 0; i < 5; ++i) {
    text += joined(offline_text(asking("Write about the lighthouse " + std::to_string(i))));
  }
  EXPECT_NE(text.find("lighthouse"), std::string::npos) << text;
}

TEST(OfflineText, FillsInTheAnswerFormThePromptAsksFor) {
  std::string text = joined(
      offline_text(asking("Answer in exactly this form:\nTITLE: <the title>\nSTYLE: <a few words>\n"
                          "PAGE 1: <what happens>\nPAGE 2: <what happens>")));
  EXPECT_EQ(text.rfind("TITLE: ", 0), 0u) << text;
  EXPECT_NE(text.find("\nSTYLE: "), std::string::npos) << text;
  EXPECT_NE(text.find("\nPAGE 1: "), std::string::npos) << text;
  EXPECT_NE(text.find("\nPAGE 2: "), std::string::npos) << text;
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
  // "A few words" gets a few words, not a sentence.
  size_t style = text.find("\nSTYLE: ") + 8;
  std::string style_line = text.substr(style, text.find('\n', style) - style);
  EXPECT_LE(std::count(style_line.begin(), style_line.end(), ' '), 3) << style_line;
}

TEST(OfflineText, StopsAtMaxTokens) {
  auto t = offline_text(asking("A long story please", 10));
  EXPECT_LE(t.pieces.size(), 10u);
  EXPECT_TRUE(t.truncated);
  EXPECT_EQ(t.input_tokens, 5);  // "user" and the four words
}

}  // namespace
}  // namespace storyloom::detail
