#include "text_source.h"

#include "prompts.h"

namespace story {

TextSource llm_text_source(std::string provider, std::string model) {
  return [provider, model](storyloom::Context& ctx, const TextRequest& request) {
    Prompt prompt = prompt_for(request);
    storyloom::LlmRequest llm;
    llm.provider = provider;
    llm.model = model;
    llm.messages = {{"system", prompt.system}, {"user", prompt.user}};
    llm.max_tokens = prompt.max_tokens;
    llm.stream_name = request.stream;
    llm.json_schema = prompt.json_schema;
    return ctx.llm(request.step, std::move(llm));
  };
}

}  // namespace story
