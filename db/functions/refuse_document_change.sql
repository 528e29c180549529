-- A filed document's bytes are as fixed as the events that attach them: the
-- application's role writes chunks and files them, and may drop the chunks
-- of an upload never filed (cut off, refused), but no one changes or drops a
-- filed document through SQL without disabling these triggers first, which
-- only the tables' owner can. `grantledger verify` re-hashes every attached
-- document against its event, the evidence against an owner who does.
CREATE OR REPLACE FUNCTION refuse_document_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'document_chunks' AND TG_OP = 'INSERT' THEN
        -- A chunk added to a filed upload would change the document as surely as an UPDATE.
        IF NOT EXISTS (SELECT 1 FROM document_contents WHERE upload_id = NEW.upload_id) THEN
            RETURN NEW;
        END IF;
    ELSIF TG_TABLE_NAME = 'document_chunks' AND TG_OP = 'DELETE'
       AND NOT EXISTS (SELECT 1 FROM document_contents WHERE upload_id = OLD.upload_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'filed documents are unchangeable: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'GL012', HINT = 'attach the corrected document as a new one';
END;
$$;

CREATE OR REPLACE TRIGGER document_chunks_filed_fixed
    BEFORE INSERT OR UPDATE OR DELETE ON document_chunks
    FOR EACH ROW EXECUTE FUNCTION refuse_document_change();

CREATE OR REPLACE TRIGGER document_contents_fixed
    BEFORE UPDATE OR DELETE ON document_contents
    FOR EACH ROW EXECUTE FUNCTION refuse_document_change();
