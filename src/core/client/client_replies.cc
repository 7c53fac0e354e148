// Replies and the messages in memory: thinking, delta, response, tool calls,
// components and history from the server, load_older, and finding, placing
// and naming messages (the theory of operation is at the top of
// client_engine.cc).
#include <algorithm>

#include "core/client/client_engine.h"
#include "core/client/client_internal.h"
#include "core/protocol/codec.h"
#include "core/protocol/engine_json.h"
#include "core/protocol/json.h"

namespace chatwire::client {

using store::StoredMessage;
using namespace internal;  // NOLINT: this component's own internals

namespace {

// The shared sub-objects are written by the codec (one writer for frames,
// events and the store).
std::string analysis_list_json(const std::optional<std::vector<protocol::ImageAnalysis>>& list) {
  return list ? protocol::to_json_text(*list) : "[]";
}

std::string citations_json(const std::optional<std::vector<protocol::Citation>>& list) {
  return list ? protocol::to_json_text(*list) : "[]";
}

ReplyState final_state(bool cancelled) { return cancelled ? ReplyState::cancelled : ReplyState::complete; }

// A reply that failed together with its message (an error naming the
// message) starts over once the message was retried: the server processes
// the retry again, and its thinking / deltas / response must not be dropped
// as events of a finished reply (found by tests/chaos: a retried message
// stayed `received` forever). The reply goes back to streaming under a
// provisional id (the next message event carries replacesId), so the new
// run's server reply id can take over. True when the reply was reopened.
bool reopen_for_retry(StoredMessage& reply, const StoredMessage* user,
                      std::map<std::string, std::string>& replaced_ids) {
  if (!is(reply, ReplyState::failed) || !user || user->role != kUser || is(*user, UserState::failed) ||
      is(*user, UserState::processed)) {
    return false;
  }
  set_state(reply, ReplyState::streaming);
  reply.content.clear();
  reply.thinking.clear();
  reply.error_code.reset();
  reply.error_message.reset();
  const std::string id = kProvisionalPrefix + reply.reply_to;
  if (reply.id != id) {
    replaced_ids[id] = reply.id;
    reply.id = id;
  }
  return true;
}

}  // namespace

// ------------------------------------------------------------------ messages in memory

StoredMessage* ClientEngine::find(std::string_view id) {
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  // Not loaded: it may be older than the loaded page.
  auto m = store_.find_message(id);
  if (!check(m) || !*m) return nullptr;
  ensure_loaded_from((*m)->ord);
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  return nullptr;
}

StoredMessage* ClientEngine::find_reply(std::string_view reply_to) {
  auto loaded = [&]() -> StoredMessage* {
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
      if (it->role == kAssistant && it->reply_to == reply_to) return &*it;
    }
    return nullptr;
  };
  if (StoredMessage* m = loaded()) return m;
  auto m = store_.find_reply(reply_to);
  if (!check(m) || !*m) return nullptr;
  ensure_loaded_from((*m)->ord);
  return loaded();
}

void ClientEngine::ensure_loaded_from(int64_t ord) {
  if (!messages_.empty() && ord >= messages_.front().ord) return;
  const int64_t front = messages_.empty() ? INT64_MAX : messages_.front().ord;
  auto more = store_.messages_from(ord);
  if (!check(more)) return;
  auto pos = messages_.begin();
  std::vector<const StoredMessage*> added;
  for (auto& m : *more) {
    if (m.ord >= front) break;
    added.push_back(&*messages_.insert(pos, std::move(m)));
  }
  if (added.empty()) return;
  // Older messages joined the loaded ones: tell the UI as a load_older would.
  for (const auto* m : added) emit_message(*m);
  auto more_before = store_.has_messages_before(messages_.front().ord);
  emit_history(check(more_before) && (*more_before || !conversation_id_.empty()));
}

void ClientEngine::save(StoredMessage& m) { check(store_.put_message(m)); }

void ClientEngine::save_if_changed(StoredMessage& m, const std::string& before_json,
                                   const std::string& before_record) {
  if (fingerprint(m) != before_record) save(m);
  if (store::message_to_json(m) != before_json) emit_message(m);
}

void ClientEngine::place(StoredMessage m) {
  auto at = store_.make_room_for_seq(m.conversation_id, m.seq);
  if (!check(at)) return;
  const bool in_memory = messages_.empty() || *at >= messages_.front().ord;
  for (auto& x : messages_) {
    if (x.ord >= *at) ++x.ord;
  }
  ++next_ord_;
  m.ord = *at;
  save(m);
  if (!in_memory) return;
  auto pos = std::find_if(messages_.begin(), messages_.end(), [&](const StoredMessage& x) { return x.ord > m.ord; });
  auto it = messages_.insert(pos, std::move(m));
  emit_message(*it);
}

StoredMessage& ClientEngine::assistant_for(const std::string& reply_to, const std::string& server_id,
                                           const std::string& ts, bool* created) {
  *created = false;
  StoredMessage* m = find_reply(reply_to);
  if (!m && !server_id.empty()) {
    m = find(server_id);
    // The same server id for another message's reply (a broken or hostile
    // server) is not this reply.
    if (m && (m->role != kAssistant || (!m->reply_to.empty() && m->reply_to != reply_to))) m = nullptr;
  }
  if (m) return *m;
  StoredMessage a;
  a.id = adoptable_id(server_id) ? server_id : kProvisionalPrefix + reply_to;
  a.role = kAssistant;
  a.conversation_id = conversation_id_;
  a.reply_to = reply_to;
  set_state(a, ReplyState::streaming);
  a.created_at = ts;
  a.ord = next_ord_++;
  messages_.push_back(std::move(a));
  *created = true;
  return messages_.back();
}

// Ids stay unique (the UI keys messages by id; found by fuzz_client_engine):
// a server's reply id is taken only if no message has it yet and it does not
// look like a provisional id ("reply:<some message>").
bool ClientEngine::adoptable_id(const std::string& id) {
  return !id.empty() && !provisional(id) && find(id) == nullptr;
}

void ClientEngine::set_assistant_id(StoredMessage& m, const std::string& id) {
  if (id.empty() || m.id == id) return;
  if (!provisional(m.id)) return;  // a server id is final
  if (!adoptable_id(id)) return;
  // Renamed twice before the UI heard of the first name (a reply reopened for
  // a retry): the UI replaces the name it knows.
  std::string was = m.id;
  if (auto earlier = replaced_ids_.find(m.id); earlier != replaced_ids_.end()) {
    was = earlier->second;
    replaced_ids_.erase(earlier);
  }
  replaced_ids_[id] = was;
  m.id = id;
}

int64_t ClientEngine::oldest_known_seq() const {
  int64_t oldest = 0;
  for (const auto& m : messages_) {
    if (m.seq > 0 && m.conversation_id == conversation_id_ && (oldest == 0 || m.seq < oldest)) oldest = m.seq;
  }
  return oldest;
}

Result<bool> ClientEngine::load_older(int64_t now) {
  Batch batch(*this);
  if (!messages_.empty()) {
    auto page = store_.messages_before(messages_.front().ord, config_.history_page);
    if (!page) return page.error();
    if (!page->empty()) {
      const size_t n = page->size();
      messages_.insert(messages_.begin(), std::make_move_iterator(page->begin()),
                       std::make_move_iterator(page->end()));
      auto it = messages_.begin();
      for (size_t i = 0; i < n; ++i, ++it) emit_message(*it);
      auto more = store_.has_messages_before(messages_.front().ord);
      if (!more) return more.error();
      // Past the local store the server may still have older messages.
      emit_history(*more || !conversation_id_.empty());
      return true;
    }
  }
  if (!live() || conversation_id_.empty()) return false;
  const int64_t oldest = oldest_known_seq();
  send_load_messages(oldest > 0 ? std::optional<int64_t>(oldest) : std::nullopt);
  return true;
}

// ------------------------------------------------------------------ tools

void ClientEngine::tool_result(int64_t now, std::string_view tool_call_id, std::string_view result_json,
                               bool is_error) {
  Batch batch(*this);
  auto it = pending_tools_.find(std::string(tool_call_id));
  if (it == pending_tools_.end()) return;  // settled already, timed out, or unknown
  pending_tools_.erase(it);
  protocol::ToolOutcome out = protocol::tool_outcome(result_json, is_error);
  settle_tool(now, std::string(tool_call_id), std::move(out.result), std::move(out.error));
}

std::optional<int64_t> ClientEngine::tool_deadline() const {
  std::optional<int64_t> t;
  for (const auto& [id, deadline] : pending_tools_) {
    if (!t || deadline < *t) t = deadline;
  }
  return t;
}

void ClientEngine::on_tool_deadline(int64_t now) {
  std::vector<std::string> expired;
  for (const auto& [id, deadline] : pending_tools_) {
    if (now >= deadline) expired.push_back(id);
  }
  for (const auto& id : expired) {
    pending_tools_.erase(id);
    settle_tool(now, id, std::nullopt, "tool timed out after " + std::to_string(config_.tool_timeout_ms) + " ms");
  }
}

void ClientEngine::settle_tool(int64_t now, const std::string& tool_call_id, std::optional<std::string> result_json,
                               std::optional<std::string> error) {
  store::ToolResultRecord rec{tool_call_id, std::move(result_json), std::move(error)};
  check(store_.put_tool_result(rec));
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    bool changed = false;
    for (auto& call : it->tool_calls) {
      if (call.tool_call_id != tool_call_id) continue;
      call.status = state_name(rec.error ? ToolState::error : ToolState::done);
      call.result_json = rec.result_json;
      call.error = rec.error;
      changed = true;
    }
    if (changed) {
      save(*it);
      emit_message(*it);
      break;
    }
  }
  send_tool_result(rec);
}

void ClientEngine::send_tool_result(const store::ToolResultRecord& rec) {
  if (!live()) return;  // the server replays the tool_call on resume
  protocol::ToolResult r;
  r.tool_call_id = rec.tool_call_id;
  if (rec.error) {
    r.error = rec.error;
  } else {
    r.result = protocol::RawJson{rec.result_json.value_or("null")};
  }
  transmit(r);
}

void ClientEngine::on_tool_call(int64_t now, const protocol::ToolCall& t, bool replay) {
  auto stored = store_.find_tool_result(t.tool_call_id);
  if (!check(stored)) return;
  if (*stored) {
    send_tool_result(**stored);  // answered before: never run twice
    return;
  }
  if (pending_tools_.count(t.tool_call_id)) return;  // running now; its answer will be sent
  bool created = false;
  StoredMessage& m = assistant_for(t.reply_to, "", t.timestamp, &created);
  for (const auto& call : m.tool_calls) {
    if (call.tool_call_id == t.tool_call_id) {
      // Started by an earlier run of this client that ended before the tool
      // settled: running it again could repeat its effect.
      settle_tool(now, t.tool_call_id, std::nullopt, "the tool call was interrupted before it finished");
      return;
    }
  }
  store::StoredToolCall call;
  call.tool_call_id = t.tool_call_id;
  call.name = t.name;
  call.arguments_json = t.arguments.text;
  call.status = state_name(ToolState::running);
  m.tool_calls.push_back(std::move(call));
  save(m);
  emit_message(m);
  pending_tools_[t.tool_call_id] = now + config_.tool_timeout_ms;
  Action a = make_action(Action::Kind::run_tool);
  a.tool_call_id = t.tool_call_id;
  a.tool_name = t.name;
  a.arguments_json = t.arguments.text;
  actions_.push_back(std::move(a));
}

// ------------------------------------------------------------------ streaming replies

void ClientEngine::on_thinking(const protocol::Thinking& t) {
  bool created = false;
  StoredMessage& m = assistant_for(t.reply_to, "", t.timestamp, &created);
  if (!created && reply_final(m)) {
    if (!reopen_for_retry(m, find(t.reply_to), replaced_ids_)) return;
    runtime_.erase(t.reply_to);
  }
  m.thinking.push_back(t.step);
  save(m);
  emit_message(m);
  protocol::EventWriter w;
  w.str("type", "thinking").str("replyTo", t.reply_to).str("step", t.step);
  emit(w.done());
}

void ClientEngine::on_delta(const protocol::Delta& d) {
  bool created = false;
  StoredMessage& m = assistant_for(d.reply_to, d.message_id, d.timestamp, &created);
  if (!created && reply_final(m)) {
    if (!reopen_for_retry(m, find(d.reply_to), replaced_ids_)) return;
    runtime_.erase(d.reply_to);
  }
  const bool renamed = m.id != d.message_id && provisional(m.id);
  set_assistant_id(m, d.message_id);
  if (created || renamed) {
    save(m);
    emit_message(m);
  }
  Runtime& rt = runtime_[d.reply_to];
  if (d.index < rt.next_index) return;  // duplicate
  if (d.index > rt.next_index) {
    rt.early.emplace(d.index, d.delta);  // wait for the gap to fill
    return;
  }
  auto apply = [&](int64_t index, const std::string& piece) {
    m.content += piece;
    rt.next_index = index + 1;
    protocol::EventWriter w;
    w.str("type", "delta").str("replyTo", d.reply_to).str("messageId", m.id).num("index", index);
    w.str("delta", piece);  // the piece only: the text so far would make a reply O(n^2) (issue 14.13)
    emit(w.done());
  };
  apply(d.index, d.delta);
  while (!rt.early.empty() && rt.early.begin()->first <= rt.next_index) {
    auto first = rt.early.begin();
    if (first->first == rt.next_index) apply(first->first, first->second);
    rt.early.erase(first);
  }
}

// An answer to user message `reply_to` (a response, or one in history): the
// message is processed, its images analyzed, and it leaves the outbox.
void ClientEngine::apply_to_user(const std::string& reply_to,
                                 const std::optional<std::vector<protocol::ImageAnalysis>>& analysis) {
  StoredMessage* u = find(reply_to);
  if (!u || u->role != kUser) return;
  const std::string before = store::message_to_json(*u);
  advance(*u, UserState::processed);
  if (analysis) {
    for (const auto& a : *analysis) {
      for (auto& img : u->images) {
        if (img.id != a.image_id) continue;
        img.analysis_json = protocol::to_json_text(a);
        if (image_state(img.status) < ImageState::analyzed) img.status = state_name(ImageState::analyzed);
      }
    }
  }
  // An answer proves the server has the message.
  remove_from_outbox(u->id, true);
  if (store::message_to_json(*u) != before) {
    save(*u);
    emit_message(*u);
  }
}

// A reply's final text, from its response or from history.
void ClientEngine::finish_reply(StoredMessage& m, const std::string& server_id, const std::string& content,
                                bool cancelled, int64_t seq,
                                const std::optional<std::vector<protocol::Citation>>& citations,
                                const std::optional<std::vector<protocol::ImageAnalysis>>& analysis) {
  set_assistant_id(m, server_id);
  m.content = content;
  set_state(m, final_state(cancelled));
  m.seq = seq;
  m.citations_json = citations_json(citations);
  m.image_analysis_json = analysis_list_json(analysis);
  save(m);
  emit_message(m);
}

void ClientEngine::on_response(const protocol::Response& r) {
  bool created = false;
  StoredMessage& m = assistant_for(r.reply_to, r.message_id, r.timestamp, &created);
  if (!created && reply_final(m) && !reopen_for_retry(m, find(r.reply_to), replaced_ids_)) {
    return;  // a replayed response changes nothing
  }
  runtime_.erase(r.reply_to);
  finish_reply(m, r.message_id, r.content, r.cancelled, r.seq, r.citations, r.image_analysis);
  apply_to_user(r.reply_to, r.image_analysis);
}

void ClientEngine::on_component(const protocol::Component& c) {
  bool created = false;
  StoredMessage& m = assistant_for(c.reply_to, "", c.timestamp, &created);
  for (const auto& x : m.components) {
    if (x.component_id == c.component_id) return;
  }
  m.components.push_back(store::StoredComponent{c.component_id, c.component, c.props.text});
  save(m);
  emit_message(m);
  protocol::EventWriter w;
  w.str("type", "component").str("replyTo", c.reply_to).str("componentId", c.component_id);
  w.str("component", c.component).raw("props", c.props.text);
  emit(w.done());
}

// ------------------------------------------------------------------ history

void ClientEngine::on_history(const protocol::History& h) {
  for (const auto& e : h.messages) {
    if (e.role == kUser) {
      if (StoredMessage* m = find(e.message_id)) {
        if (m->role != kUser) continue;
        const std::string before = store::message_to_json(*m);
        const std::string before_record = fingerprint(*m);
        advance(*m, UserState::received);
        if (m->seq == 0) m->seq = e.seq;
        remove_from_outbox(m->id, true);
        save_if_changed(*m, before, before_record);
        continue;
      }
      StoredMessage m;
      m.id = e.message_id;
      m.role = kUser;
      m.conversation_id = h.conversation_id;
      set_state(m, UserState::received);
      m.seq = e.seq;
      m.created_at = e.timestamp;
      m.content = e.content;
      for (const auto& hi : e.images) {  // what history says of an image: no size, state or analysis
        m.images.push_back(store::StoredImage{{hi.id, hi.mime_type, hi.filename, 0, 0}, "", std::nullopt});
      }
      place(std::move(m));
    } else {
      const std::string reply_to = e.reply_to.value_or("");
      StoredMessage* m = reply_to.empty() ? nullptr : find_reply(reply_to);
      if (!m) {
        m = find(e.message_id);
        if (m && m->role != kAssistant) continue;
      }
      if (m) {
        if (!reply_final(*m)) {
          runtime_.erase(reply_to);
          finish_reply(*m, e.message_id, e.content, e.cancelled, e.seq, e.citations, e.image_analysis);
        }
      } else {
        StoredMessage a;
        a.id = e.message_id;
        a.role = kAssistant;
        a.conversation_id = h.conversation_id;
        a.reply_to = reply_to;
        set_state(a, final_state(e.cancelled));
        a.seq = e.seq;
        a.created_at = e.timestamp;
        a.content = e.content;
        a.citations_json = citations_json(e.citations);
        a.image_analysis_json = analysis_list_json(e.image_analysis);
        place(std::move(a));
      }
      if (!reply_to.empty()) apply_to_user(reply_to, e.image_analysis);
    }
  }
  emit_history(h.has_more);
}

}  // namespace chatwire::client
