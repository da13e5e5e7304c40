#include "gateway/encoding/xml.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::encoding {
namespace {

using Json = nlohmann::json;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// ----- XmlToJson ----------------------------------------------------------------------------

struct DecodeCase {
  const char* name;
  std::string xml;
  const char* json;
};

TEST(XmlToJsonTest, MxjConvention) {
  const std::vector<DecodeCase> cases = {
      {"text element", "<a>hi</a>", R"({"a": "hi"})"},
      {"empty element", "<a/>", R"({"a": ""})"},
      {"empty element with end tag", "<a></a>", R"({"a": ""})"},
      {"attributes and children",
       R"(<user id="7" role='admin'><name>Ann</name><age>30</age></user>)",
       R"({"user": {"-id": "7", "-role": "admin", "name": "Ann", "age": "30"}})"},
      {"attribute with text", R"(<price currency="EUR">9.5</price>)",
       R"({"price": {"-currency": "EUR", "#text": "9.5"}})"},
      {"repeated siblings become an array, in order",
       "<r><tag>b</tag><x>1</x><tag>a</tag><tag/></r>",
       R"({"r": {"tag": ["b", "a", ""], "x": "1"}})"},
      {"repeated objects", R"(<r><i n="1"/><i n="2"><v>x</v></i></r>)",
       R"({"r": {"i": [{"-n": "1"}, {"-n": "2", "v": "x"}]}})"},
      {"whitespace between elements is ignored", "<r>\n  <a>1</a>\n  <b> 2 </b>\n</r>\n",
       R"({"r": {"a": "1", "b": "2"}})"},
      {"mixed content runs are joined by a space", "<p>Hello <b>bold</b>  world </p>",
       R"({"p": {"b": "bold", "#text": "Hello world"}})"},
      {"entities and character references", "<a>&lt;&gt;&amp;&quot;&apos; &#233;&#x20AC;&#x41;</a>",
       nullptr},
      {"CDATA is text", "<a><![CDATA[<not> & markup]]></a>", R"({"a": "<not> & markup"})"},
      {"CDATA joins adjacent text", "<a>x<![CDATA[y]]>z</a>", R"({"a": "xyz"})"},
      {"comments and processing instructions are skipped",
       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c --><?pi "
       "x?><a><!--in-->v<?p?></a><!--after-->",
       R"({"a": "v"})"},
      {"namespace prefixes are dropped",
       R"(<s:Envelope xmlns:s="urn:s"><s:Body><m:Get xmlns:m="urn:m" m:id="1"/></s:Body></s:Envelope>)",
       R"({"Envelope": {"-s": "urn:s", "Body": {"Get": {"-m": "urn:m", "-id": "1"}}}})"},
      {"default namespace", R"(<feed xmlns="http://www.w3.org/2005/Atom"><id>1</id></feed>)",
       R"({"feed": {"-xmlns": "http://www.w3.org/2005/Atom", "id": "1"}})"},
      {"CRLF becomes LF", "<a>x\r\ny\rz</a>", "{\"a\": \"x\\ny\\nz\"}"},
      {"attribute entities", R"(<a v="&lt;1&gt; &amp; 'q'"/>)", R"({"a": {"-v": "<1> & 'q'"}})"},
      {"UTF-8 BOM", "\xEF\xBB\xBF<a>\xC3\xA9</a>", R"({"a": "é"})"},
      {"non-ASCII names", "<caf\xC3\xA9>1</caf\xC3\xA9>", R"({"café": "1"})"},
      {"values stay strings", "<n><i>1</i><b>true</b><z>null</z></n>",
       R"({"n": {"i": "1", "b": "true", "z": "null"}})"},
      {"end tag with spaces", "<a >1</a >", R"({"a": "1"})"},
  };
  for (const DecodeCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Json> v = XmlToJson(c.xml);
    ASSERT_TRUE(v.ok()) << v.status();
    if (c.json != nullptr) {
      EXPECT_EQ(*v, Json::parse(c.json));
    }
  }
  EXPECT_EQ(*XmlToJson("<a>&lt;&gt;&amp;&quot;&apos; &#233;&#x20AC;&#x41;</a>"),
            Json({{"a",
                   "<>&\"' \xC3\xA9\xE2\x82\xAC"
                   "A"}}));
}

TEST(XmlToJsonTest, RssIsPlainXml) {
  absl::StatusOr<Json> v = XmlToJson(R"(<?xml version="1.0"?>
<rss version="2.0"><channel><title>T</title>
<item><title>one</title><link>http://x/1</link></item>
<item><title>two</title></item></channel></rss>)");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, Json::parse(R"({"rss": {"-version": "2.0", "channel": {"title": "T", "item": [
      {"title": "one", "link": "http://x/1"}, {"title": "two"}]}}})"));
}

TEST(XmlToJsonTest, MalformedDocumentsAreErrors) {
  struct Bad {
    std::string xml;
    const char* message;
  };
  const std::vector<Bad> cases = {
      {"", "invalid XML at byte 0: no root element"},
      {"   <!-- only -->", "invalid XML at byte 16: no root element"},
      {"text<a/>", "invalid XML at byte 0: text before the root element"},
      {"<a/><b/>", "invalid XML at byte 4: content after the root element"},
      {"<a/>tail", "invalid XML at byte 4: content after the root element"},
      {"<a>", "invalid XML at byte 3: element <a> is not closed"},
      {"<a></b>", "invalid XML at byte 6: </b> does not close <a>"},
      {"<a><b></a></b>", "invalid XML at byte 9: </a> does not close <b>"},
      {"<a b=1/>", "invalid XML at byte 5: attribute values must be quoted"},
      {"<a b/>", "invalid XML at byte 4: expected '=' after an attribute name"},
      {"<a b='1'c='2'/>", "invalid XML at byte 8: expected whitespace before an attribute"},
      {"<a b='1' b='2'/>", "invalid XML at byte 14: duplicate attribute b"},
      {"<a b='<'/>", "invalid XML at byte 6: '<' in an attribute value"},
      {"<a>x & y</a>", "invalid XML at byte 5: '&' must start an entity or character reference"},
      {"<a>&nbsp;</a>",
       "invalid XML at byte 3: undefined entity &nbsp; (only the predefined XML entities are "
       "decoded)"},
      {"<a>&#0;</a>", "invalid XML at byte 3: character reference to a forbidden character"},
      {"<a>&#xD800;</a>", "invalid XML at byte 3: character reference to a forbidden character"},
      {"<a>&#x110000;</a>", "invalid XML at byte 3: character reference out of range"},
      {"<a>&#;</a>", "invalid XML at byte 3: empty character reference"},
      {"<a>&#12a;</a>", "invalid XML at byte 3: malformed character reference"},
      {"<a>&#X41;</a>", "invalid XML at byte 3: malformed character reference"},
      {"<a><!-- open</a>", "invalid XML at byte 3: unterminated comment"},
      {"<a><![CDATA[x</a>", "invalid XML at byte 12: unterminated CDATA section"},
      {"<a><!ELEMENT a ANY></a>",
       "invalid XML at byte 3: markup declarations are not allowed inside elements"},
      {"<1a/>", "invalid XML at byte 1: expected a name"},
      {"<a>\xFF</a>", "invalid XML at byte 3: invalid UTF-8"},
      {"<a>\xC0\xAF</a>", "invalid XML at byte 3: invalid UTF-8"},
      {std::string("<a>\0</a>", 8),
       "invalid XML at byte 3: character U+0000 is not allowed in XML"},
      {"<a>\x1B</a>", "invalid XML at byte 3: character U+001B is not allowed in XML"},
  };
  for (const Bad& bad : cases) {
    absl::StatusOr<Json> v = XmlToJson(bad.xml);
    ASSERT_FALSE(v.ok()) << bad.xml;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(v.status()), bad.message) << testing::PrintToString(bad.xml);
  }
}

TEST(XmlToJsonTest, DoctypeAndEntityDeclarationsAreRejected) {
  const char* kDoctype =
      "invalid XML at byte 22: DOCTYPE is not allowed (entity declarations are not supported)";
  // Billion laughs.
  EXPECT_EQ(Message(XmlToJson(R"(<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>)")
                        .status()),
            kDoctype);
  // External entity (XXE).
  EXPECT_EQ(Message(XmlToJson(R"(<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>)")
                        .status()),
            kDoctype);
  // A DOCTYPE without declarations is refused too: nothing good can come of one.
  EXPECT_FALSE(XmlToJson("<!DOCTYPE html><html/>").ok());
}

TEST(XmlToJsonTest, DepthIsLimited) {
  const auto nested = [](int depth) {
    std::string xml;
    for (int i = 0; i < depth; ++i) xml += "<e>";
    for (int i = 0; i < depth; ++i) xml += "</e>";
    return xml;
  };
  EXPECT_TRUE(XmlToJson(nested(kMaxXmlDepth)).ok());
  absl::StatusOr<Json> deep = XmlToJson(nested(kMaxXmlDepth + 1));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(Message(deep.status()).find("elements nest deeper than 500 levels"), std::string::npos);
  // Far beyond the limit: refused before the stack is at risk.
  EXPECT_FALSE(XmlToJson(nested(1000000)).ok());
  EXPECT_FALSE(XmlToJson(std::string(1000000, '<')).ok());
}

TEST(XmlToJsonTest, TruncatedInputsNeverCrash) {
  const std::string doc =
      R"(<?xml version="1.0"?><r a="1" b='&amp;'><x><![CDATA[c]]></x><!--k--><y>&#x41;</y></r>)";
  for (size_t n = 0; n < doc.size(); ++n) {
    EXPECT_FALSE(XmlToJson(doc.substr(0, n)).ok()) << n;
  }
  EXPECT_TRUE(XmlToJson(doc).ok());
}

// ----- JsonToXml ----------------------------------------------------------------------------

struct EncodeCase {
  const char* name;
  const char* json;
  const char* xml;
};

TEST(JsonToXmlTest, ExactOutput) {
  const std::vector<EncodeCase> cases = {
      {"empty object", R"({})", "<response/>"},
      {"null", "null", "<response/>"},
      {"scalar at the top", R"("x")", "<response>x</response>"},
      {"scalars", R"({"s": "x", "i": 7, "f": 1.5, "t": true, "n": null, "e": ""})",
       "<response><e></e><f>1.5</f><i>7</i><n/><s>x</s><t>true</t></response>"},
      {"nested objects", R"({"user": {"name": "Ann", "address": {"city": "Oslo"}, "empty": {}}})",
       "<response><user><address><city>Oslo</city></address><empty/><name>Ann</name></user>"
       "</response>"},
      {"arrays repeat the element", R"({"tag": ["a", "b"], "none": [], "o": [{"k": 1}, 2]})",
       "<response><o><k>1</k></o><o>2</o><tag>a</tag><tag>b</tag></response>"},
      {"arrays of arrays use item", R"({"m": [[1, 2], [], 3]})",
       "<response><m><item>1</item><item>2</item></m><m/><m>3</m></response>"},
      {"array at the top", R"([1, {"a": 2}])",
       "<response><item>1</item><item><a>2</a></item></response>"},
      {"attributes and text",
       R"({"price": {"-currency": "EUR", "-n": 2, "#text": "9.5", "note": "x"}})",
       "<response><price currency=\"EUR\" n=\"2\">9.5<note>x</note></price></response>"},
      {"attributes only", R"({"img": {"-src": "a.png"}})",
       "<response><img src=\"a.png\"/></response>"},
      {"attributes on the root", R"({"-v": "1", "a": "x"})",
       "<response v=\"1\"><a>x</a></response>"},
      {"non-scalar dash key is an element", R"({"-o": {"k": 1}, "-": "d"})",
       "<response><_->d</_-><_-o><k>1</k></_-o></response>"},
      {"escaping", R"({"t": "a<b>&\"c\" 'd'", "x": {"-q": "<\"&'\t\n\r>"}})",
       "<response><t>a&lt;b&gt;&amp;\"c\" 'd'</t>"
       "<x q=\"&lt;&quot;&amp;'&#9;&#10;&#13;&gt;\"/></response>"},
      {"text keeps tabs and newlines, not CR", R"({"t": "a\tb\nc\r"})",
       "<response><t>a\tb\nc&#13;</t></response>"},
      {"invalid names are made valid",
       R"({"1st": 1, "a b": 2, "ns:x": 3, "": 4, "-": 5, ".x": 6, "é": 7, "a\u00d7b": 8})",
       "<response><_>4</_><_->5</_-><_.x>6</_.x><_1st>1</_1st><a_b>2</a_b><a_b>8</a_b>"
       "<ns_x>3</ns_x><\xC3\xA9>7</\xC3\xA9></response>"},
      {"forbidden characters are replaced", R"({"c": "a\u0001b\u0000"})",
       "<response><c>a\xEF\xBF\xBD"
       "b\xEF\xBF\xBD</c></response>"},
  };
  for (const EncodeCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> xml = JsonToXml(Json::parse(c.json));
    ASSERT_TRUE(xml.ok()) << xml.status();
    EXPECT_EQ(*xml, c.xml);
  }
}

TEST(JsonToXmlTest, InvalidUtf8IsReplaced) {
  Json v = Json::object();
  v["k\xFF"] = std::string("a\xC3(b\xED\xA0\x80");
  absl::StatusOr<std::string> xml = JsonToXml(v);
  ASSERT_TRUE(xml.ok());
  EXPECT_EQ(*xml,
            "<response><k_>a\xEF\xBF\xBD(b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD</k_></response>");
  EXPECT_TRUE(XmlToJson(*xml).ok());
}

TEST(JsonToXmlTest, DuplicateAttributeNamesFallBackToElements) {
  absl::StatusOr<std::string> xml = JsonToXml(Json::parse(R"({"a": {"-x y": 1, "-x_y": 2}})"));
  ASSERT_TRUE(xml.ok());
  EXPECT_EQ(*xml, "<response><a x_y=\"1\"><_-x_y>2</_-x_y></a></response>");
  EXPECT_TRUE(XmlToJson(*xml).ok());
}

TEST(JsonToXmlTest, RoundTripsTheDecoderConvention) {
  const char* xml =
      R"(<user id="7"><name>Ann &amp; Bob</name><tag>a</tag><tag>b</tag><p c="1">t</p></user>)";
  absl::StatusOr<Json> decoded = XmlToJson(xml);
  ASSERT_TRUE(decoded.ok());
  absl::StatusOr<std::string> encoded = JsonToXml(*decoded);
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded,
            "<response><user id=\"7\"><name>Ann &amp; Bob</name><p c=\"1\">t</p><tag>a</tag>"
            "<tag>b</tag></user></response>");
  absl::StatusOr<Json> again = XmlToJson(*encoded);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)["response"], *decoded);
}

TEST(JsonToXmlTest, DepthIsLimited) {
  Json deep = Json::array();
  for (int i = 0; i < kMaxXmlRenderDepth + 5; ++i) {
    Json wrapper = Json::array();
    wrapper.push_back(std::move(deep));
    deep = std::move(wrapper);
  }
  absl::StatusOr<std::string> xml = JsonToXml(deep);
  ASSERT_FALSE(xml.ok());
  EXPECT_EQ(xml.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::encoding
