"""The customer's side of the metered-route test: OpenAI's own client library talking to
Tollgate's gateway as if it were OpenAI. Prints one JSON line per call with what the
client received, for the Rust test to check against the ledger.

    python openai_chat.py BASE_URL API_KEY BROKE_KEY
"""
import json
import sys

import openai

base_url, api_key, broke_key = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
messages = [{"role": "user", "content": "count these five words"}]

whole = client.chat.completions.create(model="echo-small", messages=messages, max_tokens=4)
print(json.dumps({
    "call": "whole",
    "content": whole.choices[0].message.content,
    "usage": whole.usage.model_dump(include={"prompt_tokens", "completion_tokens"}),
}))

stream = client.chat.completions.create(
    model="echo-small", messages=messages, stream=True, stream_options={"include_usage": True}
)
parts, usage = [], None
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage.model_dump(include={"prompt_tokens", "completion_tokens"})
print(json.dumps({"call": "stream", "content": "".join(parts), "usage": usage}))

broke = openai.OpenAI(base_url=base_url, api_key=broke_key, max_retries=0)
try:
    broke.chat.completions.create(model="echo-small", messages=messages, max_tokens=10)
except openai.APIStatusError as e:
    print(json.dumps({"call": "refused", "status": e.status_code, "body": e.body}))
