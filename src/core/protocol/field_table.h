// Internal to src/core/protocol/: a struct's JSON fields as data. A field
// table lists, in wire order, one entry per field: its wire name, the struct
// member that holds it and its rule (required or optional, non-empty, length
// and range bounds, the default when absent, when it is written). The reader
// and the writer of a frame (or of a sub-object such as imageAnalysis) are
// both derived from its table, so the two can never disagree on a name or an
// order, and a new frame type is a table plus its row (frames.cc).
//
// Reading goes through Fields (json_fields.h) and stops at the first problem,
// which is the one reported: the first field in wire order that is missing or
// wrong, named with its path ("messages[2].role"). The rules a table cannot say
// (a field that depends on another, a size counted before anything is copied)
// are `check` entries, which run at their place in the order and write
// nothing.
//
//   inline constexpr auto kThinkingFields = fields<Thinking>(
//       id("replyTo", &Thinking::reply_to), text("step", &Thinking::step),
//       seq(&Thinking::seq), timestamp(&Thinking::timestamp));
#ifndef CHATWIRE_CORE_PROTOCOL_FIELD_TABLE_H_
#define CHATWIRE_CORE_PROTOCOL_FIELD_TABLE_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/protocol/json_fields.h"

namespace chatwire::protocol::internal {

template <class M>
struct is_optional : std::false_type {};
template <class M>
struct is_optional<std::optional<M>> : std::true_type {};
template <class M>
constexpr bool is_optional_v = is_optional<std::remove_cv_t<M>>::value;

// "a b c" -> "a, b or c" (the allowed values of a field, in its error).
std::string choice_list(std::string_view words);
bool is_choice(std::string_view words, std::string_view value);

// ------------------------------------------------------------------ entries
//
// Every entry has read(Fields&, T&, const Limits&) and write(Writer&, const T&).
// A member of std::optional type is optional on the wire and written when set;
// a plain member is written always and, when optional on the wire, takes the
// entry's fallback when absent.

// What a reader got, into the member (an optional member keeps "absent").
template <class M, class V, class D>
void assign(M& member, std::optional<V>&& v, const D& fallback) {
  if constexpr (is_optional_v<M>) {
    member = std::move(v);
  } else if constexpr (std::is_arithmetic_v<M>) {
    member = static_cast<M>(v ? *v : fallback);
  } else {
    member = v ? M(std::move(*v)) : M{fallback};
  }
}

// A member under `key` (an optional one only when set).
template <class M>
void put_member(Writer& w, const char* key, const M& v) {
  if constexpr (is_optional_v<M>) {
    if (v) put_member(w, key, *v);
  } else if constexpr (std::is_same_v<M, bool>) {
    put_bool(w, key, v);
  } else if constexpr (std::is_integral_v<M>) {
    put(w, key, int64_t{v});
  } else if constexpr (std::is_floating_point_v<M>) {
    w.Key(key);
    w.Double(v);
  } else if constexpr (std::is_same_v<M, std::vector<std::string>>) {
    put_strings(w, key, v);
  } else {
    put(w, key, v);
  }
}

// The wire name, the member and the presence rule every keyed entry has.
template <class T, class M>
struct Member {
  const char* name;
  M T::*member;
  bool required;

  constexpr const char* wire_names() const { return name; }
  void write(Writer& w, const T& t) const { put_member(w, name, t.*member); }
};

// A string. `choices`: the allowed values, space-separated (nullptr: any).
template <class T, class M>
struct StringField : Member<T, M> {
  bool nonempty;
  size_t max_bytes;
  const char* choices;
  bool omit_empty = false;  // a plain member: "" is not written

  void read(Fields& f, T& t, const Limits&) const {
    auto v = f.string(this->name, this->required, nonempty, max_bytes);
    if (v && choices && !is_choice(choices, *v)) f.wrong(this->name, "must be " + choice_list(choices));
    assign(t.*this->member, std::move(v), "");
  }
  void write(Writer& w, const T& t) const {
    if constexpr (!is_optional_v<M>) {
      if (omit_empty && (t.*this->member).empty()) return;
    }
    Member<T, M>::write(w, t);
  }
};

// An integer in [min, max].
template <class T, class M>
struct IntegerField : Member<T, M> {
  int64_t min, max, fallback;

  void read(Fields& f, T& t, const Limits&) const {
    assign(t.*this->member, f.integer(this->name, this->required, min, max), fallback);
  }
};

// true or false. `only_true`: written only when true (an extension flag such
// as `cancelled`).
template <class T>
struct BoolField : Member<T, bool> {
  bool fallback, only_true;

  void read(Fields& f, T& t, const Limits&) const {
    assign(t.*this->member, f.boolean(this->name, this->required), fallback);
  }
  void write(Writer& w, const T& t) const {
    if (!only_true || t.*this->member) put_bool(w, this->name, t.*this->member);
  }
};

// Any JSON value, kept as text (RawJson, `fallback` when absent; or
// optional<RawJson>).
template <class T, class M>
struct RawField : Member<T, M> {
  const char* fallback;

  void read(Fields& f, T& t, const Limits&) const { assign(t.*this->member, f.raw(this->name, false), fallback); }
};

// JSON text held in a std::string (or optional<std::string>) member: any
// value, kept as text, `fallback` when absent; written as is, "" as null.
template <class T, class M>
struct JsonTextField : Member<T, M> {
  const char* fallback;

  void read(Fields& f, T& t, const Limits&) const {
    auto v = f.raw(this->name, false);
    assign(t.*this->member, v ? std::optional<std::string>(std::move(v->text)) : std::nullopt, fallback);
  }
  void write(Writer& w, const T& t) const {
    const M& v = t.*this->member;
    if constexpr (is_optional_v<M>) {
      if (v) put_json_text(w, this->name, *v);
    } else {
      put_json_text(w, this->name, v);
    }
  }
  static void put_json_text(Writer& w, const char* key, const std::string& text) {
    put(w, key, RawJson{text.empty() ? std::string("null") : text});
  }
};

// A number (optional<double>) or an array of strings, both optional on the wire.
template <class T, class M>
struct ValueField : Member<T, M> {
  void read(Fields& f, T& t, const Limits&) const {
    if constexpr (is_optional_v<M>) {
      t.*this->member = f.number(this->name);
    } else {
      t.*this->member = f.strings(this->name);
    }
  }
};

// `timestamp` (ISO 8601, required) or `seq` (required on the wire for an
// int64_t member, only when stored for an optional one; never read from the
// application: Fields::seq).
template <class T, class M>
struct FrameField : Member<T, M> {
  void read(Fields& f, T& t, const Limits&) const {
    if constexpr (std::is_same_v<M, std::string>) {
      t.*this->member = f.timestamp(this->name);
    } else if constexpr (is_optional_v<M>) {
      t.*this->member = f.optional_seq();
    } else {
      t.*this->member = f.seq();
    }
  }
};

// true or false in a std::optional<bool> member: absent or null leaves it
// unset (update_conversation's archived: not changed); written when set.
template <class T>
struct OptionalBoolField : Member<T, std::optional<bool>> {
  void read(Fields& f, T& t, const Limits&) const {
    const Value* v = f.find(this->name);
    if (v && !v->IsNull()) t.*this->member = f.boolean(this->name, true);
  }
};

// Application metadata (version 1.1): a JSON object of at most
// kMaxMetadataBytes encoded (read_metadata). An optional member stays unset
// when absent or null, a plain RawJson one takes {}.
template <class T, class M>
struct MetadataField : Member<T, M> {
  void read(Fields& f, T& t, const Limits&) const {
    assign(t.*this->member, read_metadata(f, this->name), RawJson{"{}"});
  }
};

// An id that may be null (version 1.1's parentId), in a
// std::optional<std::optional<std::string>>: absent leaves it unset, null sets
// an empty inner optional; written the same way back (read_nullable_id,
// put_nullable).
template <class T>
struct NullableIdField : Member<T, std::optional<std::optional<std::string>>> {
  void read(Fields& f, T& t, const Limits&) const { t.*this->member = read_nullable_id(f, this->name); }
  void write(Writer& w, const T& t) const { put_nullable(w, this->name, t.*this->member); }
};

// One object in a std::optional<E> member (absent or null: unset), read and
// written by the element's table with its own Fields named "<name>.".
template <class T, class E>
struct ObjectField {
  const char* name;
  std::optional<E> T::*member;
  void (*read_item)(Fields& g, E& item, size_t index, const Limits& limits);
  void (*write_item)(Writer& w, const E& item);

  constexpr const char* wire_names() const { return name; }
  void read(Fields& f, T& t, const Limits& limits) const {
    const Value* v = f.present(name, false);
    if (!v) return;
    if (!v->IsObject()) return f.fail(object_error(f.path(name)));
    Fields g(*v, f.path(name) + ".");
    E item;
    read_item(g, item, 0, limits);
    if (!g.ok()) return f.fail(g.take_error());
    t.*member = std::move(item);
  }
  void write(Writer& w, const T& t) const {
    if (!(t.*member)) return;
    w.Key(name);
    write_item(w, *(t.*member));
  }
};

// An array of objects (std::vector<E>, or optional<std::vector<E>> kept
// absent when absent). Each element is an object read by `read_item` with
// its own Fields named "<name>[i]."; `unique` / `unique_name`: an element
// field whose values must not repeat. `written`: when a plain vector is
// written (nullptr: always). `max_items`: more elements is too_large (0: no
// bound), counted before any element is read.
template <class T, class E, class M>
struct ListField {
  const char* name;
  M T::*member;
  bool required;
  void (*read_item)(Fields& g, E& item, size_t index, const Limits& limits);
  void (*write_item)(Writer& w, const E& item);
  std::string E::*unique = nullptr;
  const char* unique_name = nullptr;
  bool (*written)(const T&) = nullptr;
  size_t max_items = 0;

  constexpr const char* wire_names() const { return name; }
  constexpr ListField unique_by(const char* field, std::string E::*m) const {
    ListField l = *this;
    l.unique_name = field;
    l.unique = m;
    return l;
  }
  constexpr ListField written_when(bool (*when)(const T&)) const {
    ListField l = *this;
    l.written = when;
    return l;
  }
  constexpr ListField at_most(size_t n) const {
    ListField l = *this;
    l.max_items = n;
    return l;
  }

  void read(Fields& f, T& t, const Limits& limits) const {
    const Value* a = f.array(name, required);
    if (!a) return;
    if (max_items && a->Size() > max_items) {
      return f.fail(ErrorCode::too_large, std::to_string(a->Size()) + " " + name + ", over the limit of " +
                                              std::to_string(max_items));
    }
    std::vector<E> items;
    std::set<std::string> seen;
    for (size_t i = 0; i < a->Size() && f.ok(); ++i) {
      const Value& v = (*a)[static_cast<rapidjson::SizeType>(i)];
      const std::string where = f.path(name) + "[" + std::to_string(i) + "]";
      if (!v.IsObject()) return f.fail(object_error(where));
      Fields g(v, where + ".");
      E item;
      read_item(g, item, i, limits);
      if (!g.ok()) return f.fail(g.take_error());
      if (unique && !seen.insert(item.*unique).second) {
        return f.fail(Error(ErrorCode::invalid_field,
                            "field '" + where + "." + unique_name + "' repeats '" + item.*unique + "'"));
      }
      items.push_back(std::move(item));
    }
    t.*member = std::move(items);
  }
  void write(Writer& w, const T& t) const {
    if constexpr (is_optional_v<M>) {
      if (t.*member) write_list(w, *(t.*member));
    } else {
      if (!written || written(t)) write_list(w, t.*member);
    }
  }
  void write_list(Writer& w, const std::vector<E>& items) const {
    w.Key(name);
    w.StartArray();
    for (const E& item : items) write_item(w, item);
    w.EndArray();
  }
};

// A rule over fields read so far; reads no field of its own, writes nothing.
template <class T>
struct CheckField {
  void (*check)(Fields& f, const T& t, const Limits& limits);

  constexpr const char* wire_names() const { return nullptr; }
  void read(Fields& f, T& t, const Limits& limits) const { check(f, t, limits); }
  void write(Writer&, const T&) const {}
};

// Fields read and written by hand (the error object's, shared with every
// error writer).
template <class T>
struct CustomField {
  void (*read_fn)(Fields& f, T& t, const Limits& limits);
  void (*write_fn)(Writer& w, const T& t);
  const char* names;  // the fields it reads and writes, in order, space-separated

  constexpr const char* wire_names() const { return names; }
  void read(Fields& f, T& t, const Limits& limits) const { read_fn(f, t, limits); }
  void write(Writer& w, const T& t) const { write_fn(w, t); }
};

// ------------------------------------------------------------------ the table

// Matches the wire names of one entry (nullptr: none) at list[at], after a
// space unless it is the first; moves `at` past them.
constexpr bool match_names(const char* list, size_t& at, const char* names, bool& first) {
  if (!names) return true;
  if (!first && list[at++] != ' ') return false;
  first = false;
  for (size_t i = 0; names[i]; ++i, ++at) {
    if (list[at] != names[i]) return false;
  }
  return true;
}

template <class T, class... Entries>
struct FieldTable {
  using Struct = T;
  std::tuple<Entries...> entries;

  // True when `list` ("a b c") names the table's fields, in order (a frame
  // row's `fields`, checked at compile time in frames.cc).
  constexpr bool names_are(const char* list) const {
    size_t at = 0;
    bool first = true;
    bool ok = true;
    std::apply([&](const auto&... e) { ((ok = ok && match_names(list, at, e.wire_names(), first)), ...); },
               entries);
    return ok && list[at] == '\0';
  }

  // Reads the entries in order, up to the first problem (left in `f`).
  void read(Fields& f, T& t, const Limits& limits) const {
    std::apply([&](const auto&... e) { ((f.ok() ? e.read(f, t, limits) : void()), ...); }, entries);
  }
  // Reads every entry, whatever the others hold: a problem leaves that
  // entry's member at its fallback (JSON the core wrote itself, such as the
  // client store's).
  void read_all(Fields& f, T& t, const Limits& limits) const {
    std::apply([&](const auto&... e) { ((e.read(f, t, limits), f.ok() ? void() : void(f.take_error())), ...); },
               entries);
  }
  // Writes the entries in order (the members of the object being written).
  void write(Writer& w, const T& t) const {
    std::apply([&](const auto&... e) { (e.write(w, t), ...); }, entries);
  }
};

template <class T, class... Entries>
constexpr FieldTable<T, Entries...> fields(Entries... entries) {
  return FieldTable<T, Entries...>{std::tuple<Entries...>(entries...)};
}

// A whole object by its table, for reading frames and list elements.
template <const auto& Table>
Result<typename std::decay_t<decltype(Table)>::Struct> read_table(Fields& f, const Limits& limits) {
  typename std::decay_t<decltype(Table)>::Struct t;
  Table.read(f, t, limits);
  return finish(f, std::move(t));
}

template <const auto& Table, class E>
void read_item(Fields& g, E& item, size_t, const Limits& limits) {
  Table.read(g, item, limits);
}

template <const auto& Table, class E>
void write_object(Writer& w, const E& item) {
  w.StartObject();
  Table.write(w, item);
  w.EndObject();
}

template <const auto& Table, class E>
void write_array(Writer& w, const std::vector<E>& items) {
  w.StartArray();
  for (const E& item : items) write_object<Table>(w, item);
  w.EndArray();
}

template <const auto& Table, class T>
void write_table(Writer& w, const T& t) {
  Table.write(w, t);
}

// ------------------------------------------------------------------ entry makers

// A required, non-empty id of at most kMaxIdBytes (an optional member: an
// optional id).
template <class T, class M>
constexpr StringField<T, M> id(const char* name, M T::*member) {
  return {{name, member, !is_optional_v<M>}, true, kMaxIdBytes, nullptr};
}
// A string, required for a plain member, optional for an optional one.
template <class T, class M>
constexpr StringField<T, M> text(const char* name, M T::*member, bool nonempty = false, size_t max_bytes = 0) {
  return {{name, member, !is_optional_v<M>}, nonempty, max_bytes, nullptr};
}
// A string that is optional on the wire, "" when absent.
template <class T>
constexpr StringField<T, std::string> text_or_empty(const char* name, std::string T::*member) {
  return {{name, member, false}, false, 0, nullptr};
}
// A string that is optional on the wire, "" when absent, and not written
// when "".
template <class T>
constexpr StringField<T, std::string> text_unless_empty(const char* name, std::string T::*member) {
  return {{name, member, false}, false, 0, nullptr, true};
}
// A non-empty string that is one of `choices` ("a b c").
template <class T, class M>
constexpr StringField<T, M> one_of(const char* name, M T::*member, const char* choices) {
  return {{name, member, !is_optional_v<M>}, true, 0, choices};
}

// An integer in [min, max]: required for a plain member, optional for an
// optional one.
template <class T, class M>
constexpr IntegerField<T, M> integer(const char* name, M T::*member, int64_t min, int64_t max) {
  return {{name, member, !is_optional_v<M>}, min, max, 0};
}
// An integer in [min, max], optional on the wire, `fallback` when absent.
template <class T, class M>
constexpr IntegerField<T, M> integer_or(const char* name, M T::*member, int64_t min, int64_t max, int64_t fallback) {
  return {{name, member, false}, min, max, fallback};
}

template <class T>
constexpr BoolField<T> flag(const char* name, bool T::*member) {
  return {{name, member, true}, false, false};
}
// Optional on the wire, `fallback` when absent; written always.
template <class T>
constexpr BoolField<T> flag_or(const char* name, bool T::*member, bool fallback) {
  return {{name, member, false}, fallback, false};
}
// Optional on the wire, false when absent; written only when true.
template <class T>
constexpr BoolField<T> flag_when_true(const char* name, bool T::*member) {
  return {{name, member, false}, false, true};
}

// Any JSON value; an optional member stays unset when absent, a plain one
// takes `fallback`.
template <class T, class M>
constexpr RawField<T, M> raw(const char* name, M T::*member, const char* fallback = nullptr) {
  return {{name, member, false}, fallback};
}

// JSON text in a string member ("" is written as null).
template <class T, class M>
constexpr JsonTextField<T, M> json_text(const char* name, M T::*member, const char* fallback = nullptr) {
  return {{name, member, false}, fallback};
}

// true, false, absent or null (unset) in a std::optional<bool>.
template <class T>
constexpr OptionalBoolField<T> optional_flag(const char* name, std::optional<bool> T::*member) {
  return {{name, member, false}};
}

template <class T, class M>
constexpr MetadataField<T, M> metadata(const char* name, M T::*member) {
  return {{name, member, false}};
}

template <class T>
constexpr NullableIdField<T> nullable_id(const char* name, std::optional<std::optional<std::string>> T::*member) {
  return {{name, member, false}};
}

template <class T>
constexpr ValueField<T, std::optional<double>> number(const char* name, std::optional<double> T::*member) {
  return {{name, member, false}};
}

template <class T>
constexpr ValueField<T, std::vector<std::string>> strings(const char* name, std::vector<std::string> T::*member) {
  return {{name, member, false}};
}

template <class T>
constexpr FrameField<T, std::string> timestamp(std::string T::*member) {
  return {{"timestamp", member, true}};
}

// A required ISO 8601 timestamp under another name (createdAt, updatedAt).
template <class T>
constexpr FrameField<T, std::string> timestamp_at(const char* name, std::string T::*member) {
  return {{name, member, true}};
}

template <class T, class M>
constexpr FrameField<T, M> seq(M T::*member) {
  return {{"seq", member, !is_optional_v<M>}};
}

// A list of objects, each read and written by `Table` (an element's table).
template <const auto& Table, class T, class M>
constexpr auto list(const char* name, M T::*member, bool required = false) {
  using E = typename std::decay_t<decltype(Table)>::Struct;
  return ListField<T, E, M>{name, member, required, &read_item<Table, E>, &write_object<Table, E>};
}

// One optional object, read and written by `Table` (its table).
template <const auto& Table, class T, class E>
constexpr ObjectField<T, E> object(const char* name, std::optional<E> T::*member) {
  return {name, member, &read_item<Table, E>, &write_object<Table, E>};
}

// A list of objects read and written by hand, element by element.
template <class T, class E, class M>
constexpr ListField<T, E, M> list_of(const char* name, M T::*member, bool required,
                                     void (*read)(Fields&, E&, size_t, const Limits&),
                                     void (*write)(Writer&, const E&)) {
  return {name, member, required, read, write};
}

template <class T>
constexpr CheckField<T> check(void (*rule)(Fields&, const T&, const Limits&)) {
  return {rule};
}

template <class T>
constexpr CustomField<T> custom(void (*read)(Fields&, T&, const Limits&), void (*write)(Writer&, const T&),
                                const char* names) {
  return {read, write, names};
}

}  // namespace chatwire::protocol::internal

#endif  // CHATWIRE_CORE_PROTOCOL_FIELD_TABLE_H_
