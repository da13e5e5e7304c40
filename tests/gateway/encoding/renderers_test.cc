#include "gateway/encoding/renderers.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::encoding {
namespace {

using config::OutputEncoding;
using Json = nlohmann::json;

Rendered MustRender(OutputEncoding e, const Json& data, std::string_view accept = "") {
  absl::StatusOr<Rendered> r = Render(e, data, accept);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : Rendered{};
}

const Json& Data() {
  static const Json* data = new Json(Json::parse(
      R"({"name": "Ann", "id": 7, "tags": ["a", "b"], "ok": true, "n": null, "ratio": 0.5})"));
  return *data;
}

TEST(RenderTest, Json) {
  Rendered r = MustRender(OutputEncoding::kJson, Data());
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(r.body, R"({"id":7,"n":null,"name":"Ann","ok":true,"ratio":0.5,"tags":["a","b"]})");
  EXPECT_EQ(MustRender(OutputEncoding::kJson, Json::object()).body, "{}");
}

TEST(RenderTest, JsonCollection) {
  Rendered r = MustRender(OutputEncoding::kJsonCollection,
                          Json::parse(R"({"collection": [{"id": 1}, 2], "other": 1})"));
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(r.body, R"([{"id":1},2])");
  EXPECT_EQ(MustRender(OutputEncoding::kJsonCollection, Data()).body, "[]");
  EXPECT_EQ(MustRender(OutputEncoding::kJsonCollection, Json::array()).body, "[]");
  // Whatever "collection" holds is rendered, as Lura does.
  EXPECT_EQ(
      MustRender(OutputEncoding::kJsonCollection, Json::parse(R"({"collection": {"a": 1}})")).body,
      R"({"a":1})");
}

TEST(RenderTest, String) {
  Rendered r =
      MustRender(OutputEncoding::kString, Json::parse(R"({"content": "plain <b>", "x": 1})"));
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(r.body, "plain <b>");
  // Lura's stringRender: missing or non-string content renders an empty body.
  EXPECT_EQ(MustRender(OutputEncoding::kString, Data()).body, "");
  EXPECT_EQ(MustRender(OutputEncoding::kString, Json::parse(R"({"content": 5})")).body, "");
  EXPECT_EQ(MustRender(OutputEncoding::kString, Json::parse(R"({"content": {"a": 1}})")).body, "");
  EXPECT_EQ(MustRender(OutputEncoding::kString, Json::parse(R"(["content"])")).body, "");
}

TEST(RenderTest, Xml) {
  Rendered r = MustRender(OutputEncoding::kXml, Data());
  EXPECT_EQ(r.content_type, "application/xml");  // krakend-xml's render
  EXPECT_EQ(r.body,
            "<response><id>7</id><n/><name>Ann</name><ok>true</ok><ratio>0.5</ratio>"
            "<tags>a</tags><tags>b</tags></response>");
}

TEST(RenderTest, Yaml) {
  Rendered r = MustRender(OutputEncoding::kYaml, Data());
  EXPECT_EQ(r.content_type, "application/yaml; charset=utf-8");  // gin >= 1.10
  EXPECT_EQ(r.body, "id: 7\n\"n\": null\nname: Ann\nok: true\nratio: 0.5\ntags:\n  - a\n  - b\n");
}

TEST(RenderTest, NoOpIsNotRendered) {
  absl::StatusOr<Rendered> r = Render(OutputEncoding::kNoOp, Data(), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RenderTest, TooDeepForXmlOrYamlIsAnErrorNotACrash) {
  Json deep = Json::object();
  for (int i = 0; i < 5000; ++i) {
    Json wrapper = Json::object();
    wrapper["k"] = std::move(deep);
    deep = std::move(wrapper);
  }
  for (OutputEncoding e : {OutputEncoding::kXml, OutputEncoding::kYaml}) {
    absl::StatusOr<Rendered> r = Render(e, deep, "");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(NegotiateTest, PicksByAccept) {
  struct Case {
    const char* accept;
    OutputEncoding expected;
  };
  for (const Case& c : std::vector<Case>{
           {"", OutputEncoding::kJson},
           {"application/json", OutputEncoding::kJson},
           {"application/xml", OutputEncoding::kXml},
           {"text/xml", OutputEncoding::kXml},
           {"application/x-yaml", OutputEncoding::kYaml},
           {"application/yaml", OutputEncoding::kYaml},
           {"text/yaml", OutputEncoding::kYaml},
           {"text/x-yaml", OutputEncoding::kYaml},
           {"text/plain", OutputEncoding::kYaml},
           {"*/*", OutputEncoding::kJson},
           {"application/*", OutputEncoding::kJson},
           {"text/*", OutputEncoding::kYaml},
           {"image/png", OutputEncoding::kJson},
           {"APPLICATION/XML", OutputEncoding::kXml},
           {"application/xml; charset=utf-8", OutputEncoding::kXml},
           // Header order decides among equal q (gin's rule).
           {"application/xml, application/json", OutputEncoding::kXml},
           {"text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8",
            OutputEncoding::kXml},
           // q-values.
           {"application/json;q=0.5, application/xml", OutputEncoding::kXml},
           {"application/json; q=0.9, text/yaml; q=0.95", OutputEncoding::kYaml},
           {"application/xml;q=0, */*", OutputEncoding::kJson},
           {"application/xml;q=0", OutputEncoding::kJson},
           {"text/plain;q=1.0, application/json;q=0.999", OutputEncoding::kYaml},
           {"application/json;q=0.001, text/xml;q=0.0001", OutputEncoding::kJson},
           {"application/xml;q=bogus", OutputEncoding::kXml},
           {" , ;, application/xml ,", OutputEncoding::kXml},
           {"application/json;level=1;q=0.2, application/xml;q=0.3", OutputEncoding::kXml},
       }) {
    EXPECT_EQ(Negotiate(c.accept), c.expected) << c.accept;
  }
}

TEST(RenderTest, NegotiateRendersThePickedEncoding) {
  EXPECT_EQ(MustRender(OutputEncoding::kNegotiate, Data(), "application/xml").content_type,
            "application/xml");
  EXPECT_EQ(MustRender(OutputEncoding::kNegotiate, Data(), "text/plain").content_type,
            "application/yaml; charset=utf-8");
  Rendered json = MustRender(OutputEncoding::kNegotiate, Data(), "");
  EXPECT_EQ(json.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(json.body, R"({"id":7,"n":null,"name":"Ann","ok":true,"ratio":0.5,"tags":["a","b"]})");
}

}  // namespace
}  // namespace sluice::encoding
